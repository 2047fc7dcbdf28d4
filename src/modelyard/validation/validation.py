"""``yard.validation``: declare a model's suite, run it on a version, read the reports, and
protect aliases.

    yard.validation.set_suite("loans", yaml=open("suite.yaml").read())   # or module="loans_checks"
    report = yard.validation.run("loans/8", against="production")         # stored, immutable
    report.status, report.failures, report.check("champion:accuracy").ci
    yard.validation.protect("loans", "production")     # moves only to a version that passed
    yard.models.set_alias("loans", "production", 8)     # ValidationRequired unless loans/8 passed
    yard.models.set_alias("loans", "production", 8, override=True, reason="hotfix, see #12")

:class:`Validation` gets its collaborators passed in (the validation store, the registry's
``Models``, ``Datasets`` and ``Runs``, a clock); it runs the checks where it is (the client,
with a remote yard) and stores the report through the store.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml as yaml_lib

from ..clock import Clock, parse_time
from ..errors import InvalidParameter, NotFound
from ..monitoring.windows import parse_duration
from ..registry.refs import parse_ref
from .checks import run_check
from .context import ValidationContext
from .entities import AliasOverride, CheckResult, ProtectedAlias, StoredSuite, ValidationReport
from .suite import (
    LoadedSuite,
    Suite,
    SuiteSpec,
    load_python_suite,
    parse_suite,
    resolve_custom,
    suite_digest,
)

__all__ = ["Validation"]


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _view_info(view: Any) -> dict[str, Any]:
    return {"dataset": view.name, "version": view.version, "digest": view.digest,
            "as_of": _iso(getattr(view, "as_of", None)),
            "window_start": _iso(getattr(view, "window_start", None)),
            "window_end": _iso(getattr(view, "window_end", None))}


class Validation:
    """The validation domain of a yard (see the module docstring)."""

    def __init__(self, store: Any, models: Any, datasets: Any, runs: Any, clock: Clock) -> None:
        self.store = store
        self.models = models
        self.datasets = datasets
        self.runs = runs
        self.clock = clock

    # ---- suites -------------------------------------------------------------------------------
    def set_suite(self, model: str, suite: Suite | SuiteSpec | dict[str, Any] | None = None, *,
                  yaml: str | None = None, path: str | Path | None = None,
                  module: str | None = None, code_path: str | Path | None = None) -> StoredSuite:
        """Declare (a new version of) the suite of ``model``: a YAML text (``yaml=``) or file
        (``path=``), a Python module (``module="loans_checks"``, imported from ``code_path`` or
        ``sys.path``), or a :class:`Suite`/dict without custom functions. Everything checkable
        now is checked now (unknown keys, metric names, custom functions that do not import);
        the suite is stored only if it is valid, and only when it changed."""
        given = [suite is not None, yaml is not None, path is not None, module is not None]
        if sum(given) != 1:
            raise InvalidParameter("set_suite takes one of a Suite, yaml=, path= or module=. "
                                   f"Got {sum(given)} of them instead.", field="suite")
        folder = None if code_path is None else str(Path(code_path).resolve())
        if module is not None:
            loaded = load_python_suite(module, folder)
            return self.store.save_suite(  # type: ignore[no-any-return]
                model=model, format="python", source=loaded.source, module=module,
                code_path=loaded.code_path)
        if path is not None:
            try:
                yaml = Path(path).read_text()
            except OSError as exc:
                raise InvalidParameter(f"cannot read the suite file {str(path)!r}: {exc}",
                                       field="path") from exc
        if suite is not None:
            if isinstance(suite, Suite):
                if suite.functions:
                    raise InvalidParameter(
                        "a Suite with custom check functions must live in a module: "
                        "set_suite(model, module='…').", field="suite")
                suite = suite.spec()
            spec = suite if isinstance(suite, SuiteSpec) else SuiteSpec.model_validate(suite)
            yaml = yaml_lib.safe_dump(spec.model_dump(mode="json", exclude_none=True),
                                      sort_keys=False)
        assert yaml is not None
        spec = parse_suite(yaml, where=str(path) if path is not None else "the YAML suite")
        resolve_custom(spec, {}, folder)
        return self.store.save_suite(  # type: ignore[no-any-return]
            model=model, format="yaml", source=yaml, code_path=folder)

    def suite(self, model: str, version: int | None = None) -> StoredSuite:
        """The stored suite of ``model`` (latest version, or ``version``)."""
        return self.store.get_suite(model=model, version=version)  # type: ignore[no-any-return]

    def suite_versions(self, model: str) -> list[StoredSuite]:
        return self.store.list_suites(model=model)  # type: ignore[no-any-return]

    def load_suite(self, model: str) -> tuple[StoredSuite, LoadedSuite]:
        """The suite ready to run. A Python suite is imported again; when its module's source
        changed since it was stored, the new source is stored as a new suite version first,
        so a report always names the text that ran."""
        stored = self.suite(model)
        if stored.format == "python":
            assert stored.module is not None
            loaded = load_python_suite(stored.module, stored.code_path)
            if loaded.digest != stored.digest:
                stored = self.store.save_suite(model=model, format="python",
                                               source=loaded.source, module=stored.module,
                                               code_path=stored.code_path)
            return stored, loaded
        spec = parse_suite(stored.source, where=f"the stored suite {model} v{stored.version}")
        functions = resolve_custom(spec, {}, stored.code_path)
        return stored, LoadedSuite(spec, functions, "yaml", stored.source,
                                   code_path=stored.code_path)

    # ---- running ------------------------------------------------------------------------------
    def run(self, ref: str, *, against: str | None = None, as_of: str | datetime | None = None,
            save: bool = True) -> ValidationReport:
        """Run the model's suite on version ``ref`` (``"loans/8"``) and store the report.

        ``against``: the champion — an alias of the same model (``"production"``) or a
        reference (``"loans/7"``); default the suite's ``against``. ``as_of``: the time the
        suite runs for (default now; ``holdout.last`` is measured back from it)."""
        started = time.perf_counter()
        version = self.models.get(ref)
        stored, loaded = self.load_suite(version.name)
        spec = loaded.spec
        moment = self.clock.now() if as_of is None else parse_time(as_of, field="as_of")
        champion_version = self._champion(version, against or spec.against)
        holdout = self._holdout(spec, moment)
        ctx = ValidationContext(
            spec=spec, version=version, model=self.models.load(version),
            champion_version=champion_version,
            champion=None if champion_version is None else self.models.load(champion_version),
            holdout_view=holdout, as_of=moment, datasets=self.datasets, runs=self.runs)
        checks: list[CheckResult] = []
        for check_spec in spec.checks:
            checks.extend(run_check(check_spec, ctx, loaded.functions))
        data: dict[str, Any] = {}
        if holdout is not None:
            data["holdout"] = {**_view_info(holdout), "rows": _rows(ctx)}
        try:
            data["train"] = {role: _view_info(v) for role, v in ctx.training_views().items()}
        except NotFound:
            data["train"] = {}
        failed = any(c.status in ("failed", "error") for c in checks)
        report = ValidationReport(
            model=version.name, version=version.version, status="failed" if failed else "passed",
            against=None if champion_version is None else champion_version.ref,
            suite_version=stored.version, suite_digest=suite_digest(loaded.source),
            checks=checks, data=data, as_of=moment,
            duration_s=round(time.perf_counter() - started, 3))
        if not save:
            return report
        return self.store.add_report(report=report)  # type: ignore[no-any-return]

    def _champion(self, version: Any, against: str | None) -> Any:
        if against is None:
            return None
        ref = against if ("/" in against or "@" in against) else f"{version.name}@{against}"
        parsed = parse_ref(ref)
        try:
            champion = self.models.get(ref)
        except NotFound:
            if parsed.alias is not None:  # the alias does not exist yet: the first version
                return None
            raise
        if (champion.name, champion.version) == (version.name, version.version):
            return None  # it is the champion already: nothing to compare with
        return champion

    def _holdout(self, spec: SuiteSpec, moment: datetime) -> Any:
        h = spec.holdout
        if h is None:
            return None
        if h.version is not None:
            return self.datasets.view(h.dataset, version=h.version)
        if h.last is not None:
            start = moment - parse_duration(h.last, field="holdout.last")
            return self.datasets.view(h.dataset, as_of=moment, window_start=start,
                                      window_end=moment)
        if h.start is not None:
            return self.datasets.view(h.dataset, as_of=h.as_of or moment,
                                      window_start=h.start, window_end=h.end)
        return self.datasets.view(h.dataset, as_of=h.as_of or moment)

    # ---- reports ------------------------------------------------------------------------------
    def report(self, report_id: str) -> ValidationReport:
        return self.store.get_report(report_id=report_id)  # type: ignore[no-any-return]

    def reports(self, model: str | None = None, version: int | None = None, *,
                limit: int = 100, offset: int = 0) -> list[ValidationReport]:
        """The reports of ``model`` (or of one version; of every model without ``model``),
        newest first (``offset`` pages on)."""
        return self.store.list_reports(  # type: ignore[no-any-return]
            model=model, version=version, limit=limit, offset=offset)

    def latest_report(self, ref: str) -> ValidationReport:
        """The newest report of a version: the one the gate on protected aliases reads."""
        version = self.models.get(ref)
        return self.store.latest_report(  # type: ignore[no-any-return]
            model=version.name, version=version.version)

    # ---- protected aliases ------------------------------------------------------------------
    def protect(self, model: str, alias: str) -> ProtectedAlias:
        """From now on ``model@alias`` moves only to a version whose latest report passed (or
        with ``override=True`` and a reason, recorded)."""
        return self.store.protect(model=model, alias=alias)  # type: ignore[no-any-return]

    def unprotect(self, model: str, alias: str, *, reason: str) -> AliasOverride:
        """Lift the protection (needs a reason; recorded as an override)."""
        return self.store.unprotect(  # type: ignore[no-any-return]
            model=model, alias=alias, reason=reason)

    def protected(self, model: str | None = None) -> list[ProtectedAlias]:
        return self.store.list_protected(model=model)  # type: ignore[no-any-return]

    def overrides(self, model: str | None = None, *, limit: int = 100) -> list[AliasOverride]:
        """Moves of protected aliases without a passing report, newest first."""
        return self.store.list_overrides(  # type: ignore[no-any-return]
            model=model, limit=limit)


def _rows(ctx: ValidationContext) -> int | None:
    try:
        return len(ctx.holdout)
    except Exception:  # noqa: BLE001 - the holdout could not be read: the checks say why
        return None
