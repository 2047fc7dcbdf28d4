"""What a run records about its code and machine: git commit, dirty flag, source, versions."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import sklearn

import modelyard as my
from modelyard.tracking import environment


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def _repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text("print('hi')\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    return repo, _git(repo, "rev-parse", "HEAD")


def test_git_info_reads_commit_dirty_flag_and_root(tmp_path: Path) -> None:
    repo, commit = _repo(tmp_path)
    (repo / "sub").mkdir()
    assert environment.git_info(str(repo / "sub")) == (commit, False, str(repo.resolve()))
    (repo / "train.py").write_text("print('changed')\n")
    assert environment.git_info.__wrapped__(str(repo)) == (commit, True, str(repo.resolve()))


def test_no_repository_gives_nones(tmp_path: Path) -> None:
    assert environment.git_info(str(tmp_path)) == (None, None, None)


def test_package_versions_come_from_metadata() -> None:
    versions = dict(environment.package_versions())
    assert versions["scikit-learn"] == sklearn.__version__
    assert "modelyard" in versions and "not-a-package" not in versions


def test_a_script_run_records_its_commit_and_source(tmp_path: Path) -> None:
    repo, commit = _repo(tmp_path)
    db = tmp_path / "yard.db"
    script = repo / "train.py"
    script.write_text(
        "import sys, modelyard as my\n"
        f"yard = my.connect('sqlite:///{db}', artifacts={str(tmp_path / 'a')!r})\n"
        "with yard.start_run('env', entry_point='train:main') as run:\n"
        "    print(run.id)\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    yard = my.connect(f"sqlite:///{db}", artifacts=str(tmp_path / "a"))
    run = yard.runs.get(out.stdout.strip())
    yard.close()
    assert run.code_commit == commit and run.code_dirty is True  # train.py was rewritten
    assert run.code_repo == str(repo.resolve()) and run.source == str(script.resolve())
    assert run.entry_point == "train:main" and run.python_version == platform.python_version()
    assert run.packages["scikit-learn"] == sklearn.__version__
    assert run.user


def test_git_info_sees_a_new_commit_in_the_same_process(tmp_path: Path) -> None:
    """A long-running process (the scheduler) records each new commit, not the first one it
    saw."""
    repo, first = _repo(tmp_path)
    assert environment.git_info(str(repo))[0] == first
    (repo / "train.py").write_text("print('second')\n")
    _git(repo, "commit", "-q", "-am", "second")
    second = _git(repo, "rev-parse", "HEAD")
    assert second != first and environment.git_info(str(repo))[0] == second


def test_the_commit_recorded_is_the_entry_points_not_the_processes(tmp_path: Path) -> None:
    """Issue 17: a run started with an entry point records the commit of the entry point's
    source file, wherever the process runs from."""
    import sys

    repo, commit = _repo(tmp_path)
    (repo / "proj_model_env.py").write_text("def train(params, data, run):\n    return None\n")
    _git(repo, "add", "proj_model_env.py")
    _git(repo, "commit", "-q", "-m", "model")
    commit = _git(repo, "rev-parse", "HEAD")
    sys.path.insert(0, str(repo))
    try:
        env = environment.capture("proj_model_env:train")
    finally:
        sys.path.remove(str(repo))
    assert env.code_commit == commit and env.code_repo == str(repo.resolve())
    assert env.source == str((repo / "proj_model_env.py").resolve())
