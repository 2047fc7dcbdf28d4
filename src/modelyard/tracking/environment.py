"""What a run records about the code and machine it ran on, captured when it starts.

Git commit, dirty flag and repository root (from the ``git`` command, once per process and
folder; None outside a repository or without git), the script or notebook that ran, the Python
version, the versions of the ML libraries installed (read from package metadata: nothing is
imported). Cheap after the first call. Who ran it is recorded by the store, from the principal.
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import subprocess
import sys
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import InvalidParameter
from .entities import RunEnvironment

__all__ = [
    "TRACKED_PACKAGES",
    "capture",
    "entry_point_file",
    "git_info",
    "import_entry_point",
    "import_module",
    "module_root",
    "package_versions",
    "read_git_info",
    "source_of_process",
]

TRACKED_PACKAGES: tuple[str, ...] = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "xgboost",
    "lightgbm",
    "torch",
    "modelyard",
)


def capture(entry_point: str | None = None) -> RunEnvironment:
    """The environment of the current process, for a run starting now.

    With an ``entry_point`` (``"package.module:function"``) the code is that function's: the
    source and the git commit are those of the module's file, wherever the process was started
    from (``modelyard retrain`` runs inside modelyard's own console script)."""
    source = entry_point_file(entry_point) if entry_point else None
    source = source or source_of_process()
    folder = _code_folder(source)
    commit, dirty, repo = git_info(str(folder)) if folder is not None else (None, None, None)
    return RunEnvironment(
        code_commit=commit,
        code_dirty=dirty,
        code_repo=repo,
        source=source,
        entry_point=entry_point,
        python_version=platform.python_version(),
        packages=dict(package_versions()),
    )


def _on_path(code_path: str | Path | None) -> None:
    if code_path is not None:
        folder = str(Path(code_path).resolve())
        if folder not in sys.path:
            sys.path.insert(0, folder)


def import_module(module_name: str, code_path: str | Path | None = None, *,
                  field: str = "entry_point", what: str = "entry_point module",
                  reload: bool = False) -> Any:
    """Import ``module_name``; ``code_path`` (a project folder) goes first on ``sys.path``, as
    ``python -m`` does with the current directory. ``reload``: run an already imported module
    again (a long-running process picks up edited code). Failures are InvalidParameter naming
    it."""
    _on_path(code_path)
    try:
        if reload and module_name in sys.modules:
            importlib.invalidate_caches()
            return importlib.reload(sys.modules[module_name])
        return importlib.import_module(module_name)
    except ImportError as exc:
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and exc.name == module_name.split(".")[0]:
            where = f"{code_path} and " if code_path is not None else ""
            hint = (f" (looked in {where}sys.path; run from the folder that holds it, or "
                    "give its folder as code_path)")
        raise InvalidParameter(f"{what} {module_name!r} cannot be imported: {exc}{hint}.",
                               field=field) from exc
    except Exception as exc:  # the user's module failed while importing
        raise InvalidParameter(f"{what} {module_name!r} raised while importing: "
                               f"{type(exc).__name__}: {exc}", field=field) from exc


def import_entry_point(entry_point: str, code_path: str | Path | None = None, *,
                       field: str = "entry_point", reload: bool = False) -> Callable[..., Any]:
    """The function named by ``"package.module:function"``, imported from ``code_path``
    first (see :func:`import_module`)."""
    module_name, sep, attr = entry_point.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidParameter(
            f"{field} must look like 'package.module:function'. Got {entry_point!r} instead.",
            field=field,
        )
    target: Any = import_module(module_name, code_path, field=field,
                                what=f"{field} module", reload=reload)
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise InvalidParameter(
                f"{field} {entry_point!r} names nothing in module {module_name!r}.",
                field=field,
            )
    if not callable(target):
        raise InvalidParameter(f"{field} {entry_point!r} must be a function.", field=field)
    return target  # type: ignore[no-any-return]


def module_root(module_name: str) -> str | None:
    """The folder a module's top-level package is imported from (what must be on
    ``sys.path`` to import it again), once it is imported; None if unknown."""
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve().parent
    for _ in range(module_name.count(".") + (1 if Path(file).name == "__init__.py" else 0)):
        path = path.parent
    return str(path)


def read_git_info(folder: str) -> tuple[str | None, bool | None, str | None]:
    """(commit, dirty, repository root) of the git checkout holding ``folder``, asked of the
    ``git`` command now; Nones if there is none."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            cwd=folder, capture_output=True, text=True, timeout=10, check=False,
        )
        if out.returncode != 0:
            return None, None, None
        lines = out.stdout.split()
        if len(lines) < 2:
            return None, None, None
        repo, commit = lines[0], lines[1]
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder, capture_output=True, text=True, timeout=30, check=False,
        )
        dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
        return commit, dirty, repo
    except (OSError, subprocess.SubprocessError):
        return None, None, None


def _git_dir(folder: Path) -> Path | None:
    """The ``.git`` folder of the checkout holding ``folder`` (a worktree's ``.git`` file
    points to it), found without running git."""
    for parent in (folder, *folder.parents):
        dot = parent / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():
            text = dot.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                found = Path(text.removeprefix("gitdir:").strip())
                return found if found.is_absolute() else (parent / found).resolve()
    return None


def _head_stamp(folder: str) -> tuple[int, ...]:
    """Changes when the checkout's HEAD moves (a commit, a checkout, a fetch into it)."""
    try:
        git = _git_dir(Path(folder).resolve())
        if git is None:
            return ()
        head = git / "HEAD"
        stamp = [head.stat().st_mtime_ns]
        text = head.read_text(errors="replace").strip()
        common = git
        commondir = git / "commondir"
        if commondir.is_file():
            common = (git / commondir.read_text().strip()).resolve()
        if text.startswith("ref:"):
            ref = text.removeprefix("ref:").strip()
            for base in (git, common):
                if (base / ref).is_file():
                    stamp.append((base / ref).stat().st_mtime_ns)
        packed = common / "packed-refs"
        if packed.is_file():
            stamp.append(packed.stat().st_mtime_ns)
        return tuple(stamp)
    except OSError:
        return ()


@lru_cache(maxsize=256)
def _git_info_at(folder: str, stamp: tuple[int, ...]) -> tuple[str | None, bool | None, str | None]:
    return read_git_info(folder)


def git_info(folder: str) -> tuple[str | None, bool | None, str | None]:
    """(commit, dirty, repository root) of the git checkout holding ``folder``; Nones if none.
    Asked of git once per folder until the checkout's HEAD moves (a long-running process, such
    as the scheduler, records each new commit); the dirty flag is as of that moment."""
    return _git_info_at(folder, _head_stamp(folder))


git_info.__wrapped__ = read_git_info  # type: ignore[attr-defined]


def entry_point_file(entry_point: str) -> str | None:
    """The source file of the module an entry point names (absolute), or None when it cannot
    be found. An imported module gives its ``__file__``; otherwise the top-level package is
    located without importing anything."""
    module_name = entry_point.partition(":")[0].strip()
    if not module_name:
        return None
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None) if module is not None else None
    if path is None:
        top = module_name.split(".")[0]
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            if spec.origin and spec.origin not in ("built-in", "frozen"):
                path = spec.origin
            elif spec.submodule_search_locations:
                path = next(iter(spec.submodule_search_locations), None)
    return str(Path(path).resolve()) if path else None


def source_of_process() -> str | None:
    """The script that is running (absolute path), ``notebook[:path]`` in Jupyter, or None."""
    ipython = sys.modules.get("IPython")
    if ipython is not None and "ipykernel" in sys.modules:
        shell = getattr(ipython, "get_ipython", lambda: None)()
        session = getattr(shell, "user_ns", {}).get("__session__") if shell is not None else None
        return f"notebook:{session}" if session else "notebook"
    argv0 = sys.argv[0] if sys.argv else ""
    if not argv0 or argv0 in ("-c", "-m"):
        return argv0 or None
    path = Path(argv0)
    return str(path.resolve()) if path.exists() else argv0


def _code_folder(source: str | None) -> Path | None:
    if source and not source.startswith("notebook"):
        path = Path(source)
        if path.is_file():
            return path.parent
        if path.is_dir():  # a namespace package
            return path
    try:
        return Path.cwd()
    except OSError:
        return None


@lru_cache(maxsize=1)
def package_versions() -> tuple[tuple[str, str], ...]:
    """(distribution, version) of the tracked packages that are installed."""
    found = []
    for name in TRACKED_PACKAGES:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(found)

