"""``yard.automation``: declare retrain policies, read the job history.

    yard.automation.policy(
        "loans-nightly", model="loans", entry_point="loans_model:train",
        params={"max_depth": 6}, data={"train": {"dataset": "loans", "last": "90d"}},
        triggers=[{"type": "cron", "cron": "0 3 * * *", "timezone": "Europe/Paris"},
                  {"type": "alert", "metric": "drift_share"}],
        deploy={"mode": "canary", "endpoint": "loans", "alias": "production"},
        watch={"period": "1d", "thresholds": [{"metric": "accuracy", "op": "<",
                                                 "threshold": 0.85}]},
        catch_up="once", webhooks=["https://hooks.example.com/ml"])
    yard.automation.run_now("loans-nightly")            # a manual trigger
    yard.automation.jobs(policy="loans-nightly")        # the history, newest first

A policy is checked when it is saved: its shape, cron expressions, time zones and durations,
and that its entry point imports (from ``code_path``, default the folder it is imported from
now). The scheduler (``modelyard scheduler``) runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..clock import Clock
from ..errors import InvalidParameter, NotFound
from ..tracking.environment import import_entry_point, module_root, read_git_info
from .entities import CommitTrigger, DataTrigger, Job, Policy, PolicySpec
from .retrain import accepts_executor, check_pipeline_entry, is_pipeline

__all__ = ["Automation", "parse_policy", "spec_error"]


def parse_policy(data: Any, *, where: str = "the policy") -> PolicySpec:
    """A :class:`PolicySpec` from a mapping (YAML/JSON); InvalidParameter names the place."""
    if isinstance(data, PolicySpec):
        return data
    if not isinstance(data, dict):
        raise InvalidParameter(f"{where} must be a mapping. Got {type(data).__name__} "
                               "instead.", field="policy")
    try:
        return PolicySpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc, f"policy in {where}", field=None) from exc


def spec_error(exc: ValidationError, what: str, *, field: str | None) -> InvalidParameter:
    """``Invalid {what} at {place}: {reason}.`` for the first error pydantic found (an unknown
    key is named as such); ``field``: the error's field (None: the place)."""
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err.get("loc", ()))
    msg = str(err.get("msg", "")).removeprefix("Value error, ").rstrip(".")
    if err.get("type") == "extra_forbidden":
        msg = f"unknown key {loc.rsplit('.', 1)[-1]!r}"
    return InvalidParameter(f"Invalid {what} at {loc or 'top'}: {msg}.",
                            field=field or loc or "policy")


class Automation:
    """Retrain policies and jobs of a yard (see the module docstring); ``datasets`` is used
    to record where data triggers start counting."""

    def __init__(self, store: Any, datasets: Any, clock: Clock) -> None:
        self.store = store
        self.datasets = datasets
        self.clock = clock

    def policy(self, name: str, spec: PolicySpec | dict[str, Any] | None = None, *,
               enabled: bool = True, **fields: Any) -> Policy:
        """Create or replace the policy ``name`` from a spec (mapping or
        :class:`PolicySpec`) or keyword fields; checked now, including that the entry point
        imports."""
        data = dict(spec.model_dump() if isinstance(spec, PolicySpec) else spec or {})
        data.update(fields)
        parsed = parse_policy(data, where=f"policy {name!r}")
        if parsed.entry_point is not None:
            folder = None if parsed.code_path is None else str(Path(parsed.code_path).resolve())
            fn = import_entry_point(parsed.entry_point, folder)
            if is_pipeline(fn):
                check_pipeline_entry(fn, parsed.entry_point, parsed.params, list(parsed.data))
            if parsed.executor is not None and not accepts_executor(fn):
                raise InvalidParameter(
                    f"policy {name!r} runs its training on executor {parsed.executor!r}, but "
                    f"entry point {parsed.entry_point!r} does not take one: expected a "
                    "parameter named 'executor'.", field="executor")
            root = folder or module_root(parsed.entry_point.partition(":")[0])
            parsed = parsed.model_copy(update={"code_path": root})
        return self.store.save_policy(  # type: ignore[no-any-return]
            name=name, spec=parsed, enabled=enabled, state=self._baselines(parsed))

    def _baselines(self, spec: PolicySpec) -> dict[str, Any]:
        """Where data and commit triggers start from: what exists when the policy is made."""
        out: dict[str, Any] = {}
        for i, trigger in enumerate(spec.triggers):
            slot = f"baseline:t{i}:{trigger.type}"
            if isinstance(trigger, DataTrigger):
                try:
                    latest = self.datasets.get(trigger.dataset)
                    out[slot] = {"rows": latest.n_rows, "version": latest.version}
                except NotFound:  # no dataset yet: every row it gets will be new
                    out[slot] = {"rows": 0}
            elif isinstance(trigger, CommitTrigger):
                if spec.code_path is None:
                    raise InvalidParameter("a commit trigger needs the entry point's folder "
                                           "(code_path).", field="triggers")
                commit, _, _ = read_git_info(spec.code_path)
                if commit is None:
                    raise InvalidParameter(
                        f"a commit trigger needs the entry point's code in a git repository; "
                        f"{spec.code_path} is not in one.", field="triggers")
                out[slot] = commit
        return out

    def get(self, name: str) -> Policy:
        return self.store.get_policy(name=name)  # type: ignore[no-any-return]

    def policies(self, *, model: str | None = None) -> list[Policy]:
        return self.store.list_policies(model=model)  # type: ignore[no-any-return]

    def enable(self, name: str) -> Policy:
        return self.store.enable_policy(name=name)  # type: ignore[no-any-return]

    def disable(self, name: str) -> Policy:
        return self.store.disable_policy(name=name)  # type: ignore[no-any-return]

    def delete(self, name: str) -> None:
        self.store.delete_policy(name=name)

    def run_now(self, name: str, *, reason: str | None = None) -> Job:
        """Queue a job of the policy now (the scheduler runs it on its next tick)."""
        return self.store.run_policy(name=name, reason=reason)  # type: ignore[no-any-return]

    def jobs(self, *, policy: str | None = None, status: str | None = None,
             model: str | None = None, limit: int = 100, offset: int = 0) -> list[Job]:
        """The job history, newest first (``offset`` pages on)."""
        return self.store.list_jobs(  # type: ignore[no-any-return]
            policy=policy, status=status, model=model, limit=limit, offset=offset)

    def job(self, job_id: str) -> Job:
        return self.store.get_job(job_id=job_id)  # type: ignore[no-any-return]
