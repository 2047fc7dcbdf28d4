"""The SQL implementation of tracking: experiments, runs, params, metrics, tags, inputs, artifacts.

Every write is one transaction. The write path uses SQLAlchemy Core statements built once per
store (a batch of metrics is one ``executemany`` plus one upsert of ``latest_metrics``); reads of
many runs take a constant number of queries (runs, params, latest metrics, tags, inputs).

Methods marked with :func:`~modelyard.transport.endpoint` are the REST API of ``modelyard
server`` and, on a remote yard, the same methods over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..artifacts.store import ArtifactStore, check_digest, check_relative_path
from ..clock import Clock, to_utc
from ..config import Settings
from ..errors import AlreadyExists, InvalidParameter, NotFound
from ..ids import new_id
from ..store import audit
from ..store.base import DomainStore
from ..store.compiled import Compiled
from ..store.database import Database
from ..store.names import check_label
from ..store.schema.tracking import (
    ExperimentRow,
    LatestMetricRow,
    MetricRow,
    ParamRow,
    RunArtifactRow,
    RunInputRow,
    RunRow,
    RunTagRow,
)
from ..transport import endpoint
from .entities import RUN_STATUSES, Experiment, Metric, Run, RunArtifact, RunEnvironment, RunInput
from .search import SearchTables, compile_filter, compile_order_by, parse_filter, parse_order_by

__all__ = ["MAX_KEY_LENGTH", "MAX_PARAM_LENGTH", "TrackingStore", "validate_key"]

MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 8000
MAX_TAG_LENGTH = 65535
MAX_RESULTS = 50_000

_experiments = ExperimentRow.__table__
_runs = RunRow.__table__
_params = ParamRow.__table__
_metrics = MetricRow.__table__
_latest = LatestMetricRow.__table__
_tags = RunTagRow.__table__
_inputs = RunInputRow.__table__
_artifacts = RunArtifactRow.__table__
_TABLES = SearchTables(_runs, _params, _tags, _latest)
_END_RUN = (
    _runs.update()
    .where(_runs.c.id == sa.bindparam("run_id"))
    .values(status=sa.bindparam("status"), end_time=sa.bindparam("end_time"),
            error=sa.bindparam("error"))
)


def validate_key(key: object, *, field: str = "key") -> str:
    """A metric/param/tag key: non-empty, at most 250 characters, no '..', no leading '/'."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidParameter(
            f"{field} must be a non-empty string of at most {MAX_KEY_LENGTH} characters. "
            f"Got {key!r} instead.",
            field=field,
        )
    if key.startswith("/") or ".." in key or posixpath.normpath(key) != key or any(
        ord(ch) < 32 for ch in key
    ):
        raise InvalidParameter(
            f"{field} must be a relative name without '..', a leading '/', '//' or control "
            f"characters. Got {key!r} instead.",
            field=field,
        )
    return key


def _check_text(value: object, *, key: str, limit: int, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidParameter(
            f"{what} {key!r} must be a string. Got {type(value).__name__} {value!r} instead.",
            field=key,
        )
    if len(value) > limit:
        raise InvalidParameter(
            f"{what} {key!r} must be at most {limit} characters. Got {len(value)} characters.",
            field=key,
        )
    return _no_nul(value, field=key, what=f"{what} {key!r}")


def _no_nul(value: str, *, field: str, what: str) -> str:
    """PostgreSQL text cannot hold NUL; refuse it on every backend alike."""
    if "\x00" in value:
        raise InvalidParameter(f"{what} must not contain NUL characters. Got {value!r}.",
                               field=field)
    return value


def _check_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not run_id or len(run_id) > 32:
        raise InvalidParameter(
            f"run_id must be the 32-character id of a run. Got {run_id!r} instead.", field="run_id"
        )
    return run_id


def _check_recipe(recipe: object) -> dict[str, Any] | None:
    if recipe is None:
        return None
    if not isinstance(recipe, Mapping):
        raise InvalidParameter(f"recipe must be a JSON object. Got {type(recipe).__name__}.",
                               field="recipe")
    try:
        json.dumps(recipe, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(f"recipe must hold only JSON values: {exc}", field="recipe") \
            from exc
    return dict(recipe)


def _digest(value: Any) -> str:
    """The sha256 of a value's canonical JSON (what an audit record keeps of a big value)."""
    return "sha256:" + hashlib.sha256(audit.canonical_json(value).encode("utf-8")).hexdigest()


def _ms(value: datetime) -> int:
    return int(to_utc(value).timestamp() * 1000)


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _float_or_nan(value: float | None) -> float:
    return math.nan if value is None else value


_METRIC_KEYS = ("run_id", "key", "value", "step", "timestamp")
_KV_KEYS = ("run_id", "key", "value")


class TrackingStore(DomainStore):
    """Experiments and runs over one database. Build as ``TrackingStore(db, artifacts, settings,
    clock)``; the SDK (``yard.runs``) reaches it as ``yard.backend.tracking``."""

    def __init__(self, db: Database, artifacts: ArtifactStore, settings: Settings,
                 clock: Clock) -> None:
        super().__init__(db, artifacts, settings, clock)
        self._experiment_ids: dict[str, int] = {}

    # ---- statements, built once --------------------------------------------------------
    @cached_property
    def _insert(self) -> Any:
        return postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert

    @cached_property
    def _fast(self) -> dict[str, Compiled]:
        """The statements of the logging hot path, compiled once for this database."""
        dialect = self.db.engine.dialect
        latest = self._insert(_latest)
        tag = self._insert(_tags)
        return {
            "metric": Compiled(_metrics.insert().inline(), dialect, _METRIC_KEYS),
            "latest": Compiled(
                latest.on_conflict_do_update(
                    index_elements=[_latest.c.run_id, _latest.c.key],
                    set_={
                        "value": latest.excluded.value,
                        "step": latest.excluded.step,
                        "timestamp": latest.excluded.timestamp,
                    },
                    where=latest.excluded.step >= _latest.c.step,
                ),
                dialect,
                _METRIC_KEYS,
            ),
            "param": Compiled(_params.insert().inline(), dialect, _KV_KEYS),
            "params_of": self._select_of(_params, dialect),
            "latest_of": self._select_of(_latest, dialect),
            "tags_of": self._select_of(_tags, dialect),
            "tag": Compiled(
                tag.on_conflict_do_update(
                    index_elements=[_tags.c.run_id, _tags.c.key], set_={"value": tag.excluded.value}
                ),
                dialect,
                _KV_KEYS,
            ),
        }

    def _in_ids(self, column: Any) -> Any:
        """``column IN (the ids)``, with every id in the one bound parameter ``ids``."""
        if self.db.dialect == "postgresql":
            return column == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String)))
        each = sa.select(sa.column("value")).select_from(sa.func.json_each(sa.bindparam("ids")))
        return column.in_(each.scalar_subquery())

    def _ids_param(self, ids: list[str]) -> Any:
        return ids if self.db.dialect == "postgresql" else json.dumps(ids)

    def _select_of(self, table: sa.Table, dialect: sa.Dialect) -> Compiled:
        stmt = sa.select(table.c.run_id, table.c.key, table.c.value).where(
            self._in_ids(table.c.run_id)
        )
        return Compiled(stmt, dialect, ("ids",))

    @cached_property
    def _inputs_of(self) -> Any:
        return sa.select(_inputs).where(self._in_ids(_inputs.c.run_id)).order_by(_inputs.c.id)

    @cached_property
    def _integrity_errors(self) -> tuple[type[BaseException], ...]:
        dbapi = self.db.engine.dialect.loaded_dbapi
        return (sa.exc.IntegrityError, dbapi.IntegrityError)

    @cached_property
    def _insert_experiment_if_missing(self) -> Any:
        return self._insert(_experiments).on_conflict_do_nothing(index_elements=[_experiments.c.name])

    @cached_property
    def _upsert_artifact(self) -> Any:
        stmt = self._insert(_artifacts)
        return stmt.on_conflict_do_update(
            index_elements=[_artifacts.c.run_id, _artifacts.c.path],
            set_={
                "digest": stmt.excluded.digest,
                "size": stmt.excluded.size,
                "created_at": stmt.excluded.created_at,
            },
        )

    # ---- experiments -------------------------------------------------------------------
    @endpoint("POST", "/experiments", status_code=201, permission="write")
    def create_experiment(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> Experiment:
        """Create an experiment; AlreadyExists when the name is taken."""
        name = self._check_experiment_name(name)
        tags = self._check_tags(tags or {})
        if description is not None:
            _check_text(description, key="description", limit=MAX_TAG_LENGTH, what="Experiment")
        try:
            with self.db.write() as conn:
                conn.execute(
                    _experiments.insert(),
                    {"name": name, "description": description, "tags": tags,
                     "created_at": self.clock.now()},
                )
                audit.append(conn, action="experiment.create", target=f"experiment:{name}",
                             after={"description": description, "tags": tags})
                return self._experiment(conn, name)
        except sa.exc.IntegrityError:
            raise AlreadyExists(f"Experiment {name!r} already exists.", field="name") from None

    @endpoint("GET", "/experiments/{name}", permission="read")
    def get_experiment(self, name: str) -> Experiment:
        """The experiment called ``name``."""
        with self.db.read() as conn:
            return self._experiment(conn, name)

    @endpoint("GET", "/experiments", permission="read")
    def list_experiments(self) -> list[Experiment]:
        """Every experiment, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(_experiments).order_by(_experiments.c.id)).all()
        return [self._experiment_entity(r) for r in rows]

    def _experiment(self, conn: Connection, name: str) -> Experiment:
        row = conn.execute(sa.select(_experiments).where(_experiments.c.name == name)).first()
        if row is None:
            raise NotFound(f"No experiment named {name!r}.", field="name")
        return self._experiment_entity(row)

    @staticmethod
    def _experiment_entity(row: Any) -> Experiment:
        return Experiment(id=row.id, name=row.name, description=row.description,
                          tags=row.tags or {}, created_at=row.created_at)

    @staticmethod
    def _check_experiment_name(name: object) -> str:
        """An experiment name is a label (free text, no control characters: store.names)."""
        return check_label(name, field="experiment", what="An experiment name")

    # ---- runs --------------------------------------------------------------------------
    @endpoint("POST", "/runs", status_code=201, permission="write")
    def create_run(
        self,
        experiment: str = "default",
        name: str | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        inputs: list[RunInput] | None = None,
        environment: RunEnvironment | None = None,
        start_time: datetime | None = None,
        recipe: dict[str, Any] | None = None,
    ) -> Run:
        """Start a run in ``experiment`` (created on first use), with its environment.

        ``recipe``: what re-runs this training (entry point, params, inputs: see
        ``automation/retrain.py``), stored with the run once and never changed afterwards (no
        method updates it; its digest is in the run's audit record)."""
        experiment = self._check_experiment_name(experiment)
        if name is not None:
            check_label(name, field="name", what="A run name")
        param_rows = self._param_rows("", params or {})
        tags = self._check_tags(tags or {})
        input_rows = self._input_rows("", inputs or [])
        env = environment or RunEnvironment()
        recipe = _check_recipe(recipe)
        run_id = new_id()
        user = self.actor
        started = _ms(start_time) if start_time is not None else self.clock.millis()
        with self.db.write() as conn:
            exp_id = self._experiment_ids.get(experiment)
            if exp_id is None:
                made = conn.execute(
                    self._insert_experiment_if_missing,
                    {"name": experiment, "tags": {}, "created_at": self.clock.now()},
                )
                if made.rowcount == 1:
                    audit.append(conn, action="experiment.create",
                                 target=f"experiment:{experiment}")
                exp_id = conn.execute(
                    sa.select(_experiments.c.id).where(_experiments.c.name == experiment)
                ).scalar_one()
            conn.execute(
                _runs.insert(),
                {
                    "id": run_id, "experiment_id": exp_id, "name": name, "status": "RUNNING",
                    "start_time": started, "end_time": None, "error": None, "user": user,
                    "code_commit": env.code_commit, "code_dirty": env.code_dirty,
                    "code_repo": env.code_repo, "source": env.source,
                    "entry_point": env.entry_point, "python_version": env.python_version,
                    "packages": env.packages, "recipe": recipe,
                },
            )
            if param_rows:
                conn.execute(_params.insert(), [{**r, "run_id": run_id} for r in param_rows])
            if tags:
                conn.execute(
                    _tags.insert(), [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
                )
            if input_rows:
                conn.execute(_inputs.insert(), [{**r, "run_id": run_id} for r in input_rows])
            audit.append(conn, action="run.create", target=f"run:{run_id}", after={
                "experiment": experiment, "name": name, "params": _digest(params or {}),
                "tags": tags, "inputs": [f"{r['dataset']}/{r['version']}" for r in input_rows],
                "code_commit": env.code_commit, "entry_point": env.entry_point,
                "recipe": None if recipe is None else _digest(recipe)})
        self._experiment_ids[experiment] = exp_id  # experiments are never renamed or removed
        return Run(
            id=run_id, experiment_id=exp_id, experiment=experiment, name=name, status="RUNNING",
            start_time=_dt(started), params={r["key"]: r["value"] for r in param_rows},
            tags=dict(tags), inputs=[RunInput(**r) for r in input_rows], user=user,
            recipe=recipe, **env.model_dump(),
        )

    @endpoint("GET", "/runs/{run_id}", permission="read")
    def get_run(self, run_id: str) -> Run:
        """A run with its params, latest metric values, tags and inputs."""
        with self.db.read() as conn:
            runs = self._load_runs(conn, sa.select(*self._run_columns()).where(_runs.c.id == run_id))
        if not runs:
            raise NotFound(f"No run with id {run_id!r}.", field="run_id")
        return runs[0]

    @endpoint("POST", "/runs/{run_id}/end", permission="write")
    def end_run(
        self,
        run_id: str,
        status: str = "FINISHED",
        error: str | None = None,
        end_time: datetime | None = None,
    ) -> None:
        """Mark a run FINISHED, FAILED or KILLED (with the error text when it failed)."""
        if status not in RUN_STATUSES or status == "RUNNING":
            raise InvalidParameter(
                f"status must be one of FINISHED, FAILED, KILLED. Got {status!r} instead.",
                field="status",
            )
        ended = _ms(end_time) if end_time is not None else self.clock.millis()
        if error is not None:
            error = str(error).replace("\x00", "\ufffd")  # the text of an exception, kept
        with self.db.write() as conn:
            result = conn.execute(
                _END_RUN, {"run_id": run_id, "status": status, "end_time": ended, "error": error}
            )
            if result.rowcount == 0:
                raise NotFound(f"No run with id {run_id!r}.", field="run_id")
            # params and metrics are not audited one by one (a param is set once, metrics only
            # accumulate, and they are most of the writes): the end of a run seals their digest
            ids = {"ids": self._ids_param([run_id])}
            params = sorted((k, v) for _, k, v in self._fast["params_of"].fetch(conn, ids))
            metrics = sorted((k, v) for _, k, v in self._fast["latest_of"].fetch(conn, ids))
            audit.append(conn, action="run.end", target=f"run:{run_id}", after={
                "status": status, "error": error, "end_time": ended,
                "params": _digest(params), "n_params": len(params),
                "metrics": _digest(metrics), "n_metrics": len(metrics)})

    @endpoint("POST", "/runs/search", permission="read")
    def search_runs(
        self,
        filter: str = "",
        experiments: list[str] | None = None,
        order_by: list[str] | None = None,
        max_results: int = 1000,
        offset: int = 0,
    ) -> list[Run]:
        """Runs matching ``filter`` (the filter language of ``tracking.search``), sorted;
        ``offset`` skips that many (pages of a long list)."""
        if not isinstance(max_results, int) or not 0 < max_results <= MAX_RESULTS:
            raise InvalidParameter(
                f"max_results must be an integer from 1 to {MAX_RESULTS}. "
                f"Got {max_results!r} instead.",
                field="max_results",
            )
        if not isinstance(offset, int) or not 0 <= offset < 2**31:
            raise InvalidParameter(
                f"offset must be an integer from 0 to {2**31 - 1}. Got {offset!r} instead.",
                field="offset",
            )
        node = parse_filter(filter or "")
        order = compile_order_by(parse_order_by(order_by), _TABLES)
        where = compile_filter(node, _TABLES, self.db.dialect)
        query = sa.select(*self._run_columns())
        if where is not None:
            query = query.where(where)
        names = None
        if experiments is not None:
            names = [experiments] if isinstance(experiments, str) else list(experiments)
            query = query.where(_experiments.c.name.in_(names))
        query = query.order_by(*order).limit(max_results).offset(offset)
        with self.db.read() as conn:
            runs = self._load_runs(conn, query)
            if names and not runs:  # a misspelt experiment should not look like "no runs"
                known = set(conn.execute(
                    sa.select(_experiments.c.name).where(_experiments.c.name.in_(names))
                ).scalars())
                missing = [n for n in names if n not in known]
                if missing:
                    raise NotFound(f"No experiment named {missing[0]!r}.", field="experiments")
            return runs

    @endpoint("GET", "/datasets/{name}/versions/{version}/runs", permission="read")
    def runs_for_dataset(self, name: str, version: int) -> list[Run]:
        """Runs that read version ``version`` of dataset ``name`` (newest first)."""
        if not 0 <= version < 2**31:
            return []
        used = sa.select(_inputs.c.run_id).where(
            _inputs.c.dataset == name, _inputs.c.version == version
        )
        query = (
            sa.select(*self._run_columns())
            .where(_runs.c.id.in_(used))
            .order_by(_runs.c.start_time.desc(), _runs.c.id.desc())
        )
        with self.db.read() as conn:
            return self._load_runs(conn, query)

    @staticmethod
    def _run_columns() -> list[Any]:
        return [*_runs.c, _experiments.c.name.label("experiment_name")]

    def _load_runs(self, conn: Connection, query: Any) -> list[Run]:
        """Materialise runs in five queries, however many there are: the runs, then their
        params, latest metrics, tags and inputs, each selected by one parameter holding every
        id (a JSON array on SQLite, an array on PostgreSQL: no limit on the number of ids)."""
        query = query.select_from(_runs.join(_experiments, _runs.c.experiment_id == _experiments.c.id))
        rows = conn.execute(query).all()
        if not rows:
            return []
        ids = self._ids_param([r.id for r in rows])
        fast = self._fast
        params: dict[str, dict[str, str]] = defaultdict(dict)
        metrics: dict[str, dict[str, float]] = defaultdict(dict)
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        inputs: dict[str, list[RunInput]] = defaultdict(list)
        for run_id, key, value in fast["params_of"].fetch(conn, {"ids": ids}):
            params[run_id][key] = value
        for run_id, key, value in fast["latest_of"].fetch(conn, {"ids": ids}):
            metrics[run_id][key] = math.nan if value is None else value
        for run_id, key, value in fast["tags_of"].fetch(conn, {"ids": ids}):
            tags[run_id][key] = value
        for r in conn.execute(self._inputs_of, {"ids": ids}).all():
            inputs[r.run_id].append(
                RunInput(dataset=r.dataset, version=r.version, digest=r.digest, role=r.role,
                         as_of=r.as_of, window_start=r.window_start, window_end=r.window_end)
            )
        return [
            Run(
                id=r.id, experiment_id=r.experiment_id, experiment=r.experiment_name, name=r.name,
                status=r.status, start_time=_dt(r.start_time), end_time=_dt(r.end_time),
                params=params.get(r.id, {}), metrics=metrics.get(r.id, {}),
                tags=tags.get(r.id, {}), user=r.user, code_commit=r.code_commit,
                code_dirty=r.code_dirty, code_repo=r.code_repo, source=r.source,
                entry_point=r.entry_point, python_version=r.python_version,
                packages=r.packages or {}, error=r.error, inputs=inputs.get(r.id, []),
                recipe=r.recipe,
            )
            for r in rows
        ]

    def _require_run(self, conn: Connection, run_id: str) -> None:
        found = conn.execute(sa.select(_runs.c.id).where(_runs.c.id == run_id)).first()
        if found is None:
            raise NotFound(f"No run with id {run_id!r}.", field="run_id")

    # ---- params ------------------------------------------------------------------------
    @endpoint("POST", "/runs/{run_id}/params", permission="write")
    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        """Record params; a param is set once (the same value again is a no-op, another value
        raises InvalidParameter naming the key)."""
        _check_run_id(run_id)
        rows = self._param_rows(run_id, params)
        if not rows:
            return
        try:  # the common case, one statement: every key is new
            with self.db.write() as conn:
                self._fast["param"].run(conn, rows)
            return
        except self._integrity_errors:
            pass  # an existing key or an unknown run: find out which, in a fresh transaction
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            existing = dict(
                conn.execute(
                    sa.select(_params.c.key, _params.c.value).where(
                        _params.c.run_id == run_id, _params.c.key.in_([r["key"] for r in rows])
                    )
                ).all()
            )
            for r in rows:
                old = existing.get(r["key"])
                if old is not None and old != r["value"]:
                    raise InvalidParameter(
                        f"Param {r['key']!r} of run {run_id} is already {old!r}; params cannot "
                        f"change. Got {r['value']!r}. Log it under another key or start a new run.",
                        field=r["key"],
                    )
            new = [r for r in rows if r["key"] not in existing]
            if new:
                conn.execute(_params.insert(), new)

    def _param_rows(self, run_id: str, params: Mapping[str, str]) -> list[dict[str, str]]:
        if not isinstance(params, Mapping):
            raise InvalidParameter(
                f"params must be a mapping of key to text. Got {type(params).__name__}.",
                field="params",
            )
        return [
            {
                "run_id": run_id,
                "key": validate_key(k, field="param key"),
                "value": _check_text(v, key=k, limit=MAX_PARAM_LENGTH, what="Param"),
            }
            for k, v in params.items()
        ]

    # ---- metrics -----------------------------------------------------------------------
    @endpoint("POST", "/runs/{run_id}/metrics", permission="write")
    def log_metrics(self, run_id: str, metrics: list[Metric]) -> None:
        """Record a batch of metric values in one transaction; ``latest_metrics`` keeps the
        value at the highest step (a later value at the same step wins)."""
        _check_run_id(run_id)
        if not metrics:
            return
        now = self.clock.millis()
        rows: list[dict[str, Any]] = []
        latest: dict[str, dict[str, Any]] = {}
        for i, m in enumerate(metrics):
            if not isinstance(m, Metric):
                m = self._coerce_metric(m, i)
            value = m.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidParameter(
                    f"Metric {m.key!r} must be a number. Got {value!r} instead.", field=m.key
                )
            validate_key(m.key, field="metric key")
            row = {
                "run_id": run_id,
                "key": m.key,
                "value": None if math.isnan(value) else float(value),
                "step": int(m.step),
                "timestamp": now if m.timestamp is None else int(m.timestamp),
            }
            rows.append(row)
            prev = latest.get(m.key)
            if prev is None or row["step"] >= prev["step"]:
                latest[m.key] = row
        try:
            with self.db.write() as conn:
                self._fast["metric"].run(conn, rows)
                self._fast["latest"].run(conn, list(latest.values()))
        except self._integrity_errors:
            with self.db.read() as conn:
                self._require_run(conn, run_id)
            raise

    @staticmethod
    def _coerce_metric(m: object, index: int) -> Metric:
        try:
            return Metric.model_validate(m)
        except ValueError as exc:
            raise InvalidParameter(
                f"metrics[{index}] must be a Metric (key, value, step, timestamp). "
                f"Got {m!r} instead.",
                field="metrics",
            ) from exc

    @endpoint("GET", "/runs/{run_id}/metric-history", permission="read")
    def get_metric_history(self, run_id: str, key: str,
                           max_points: int | None = None) -> list[Metric]:
        """Every value logged for metric ``key`` of a run, by step then time.

        With ``max_points`` (at least 8), a longer history is downsampled in the database:
        the steps are cut into ``max_points // 4`` equal ranges and each range keeps its
        first, last, lowest and highest value (M4), which draws the same line at that width."""
        if max_points is not None and (not isinstance(max_points, int) or max_points < 8):
            raise InvalidParameter(
                f"max_points must be an integer of at least 8. Got {max_points!r} instead.",
                field="max_points",
            )
        cols = (_metrics.c.key, _metrics.c.value, _metrics.c.step, _metrics.c.timestamp)
        where = (_metrics.c.run_id == run_id, _metrics.c.key == key)
        with self.db.read() as conn:
            query = sa.select(*cols).where(*where).order_by(
                _metrics.c.step, _metrics.c.timestamp, _metrics.c.id)
            if max_points is not None:
                n, lo, hi = conn.execute(sa.select(
                    sa.func.count(), sa.func.min(_metrics.c.step), sa.func.max(_metrics.c.step)
                ).where(*where)).one()
                if n > max_points:
                    query = _m4(cols, where, lo, hi, max_points // 4)
            rows = conn.execute(query).all()
            if not rows:
                self._require_run(conn, run_id)
        return [
            Metric(key=r.key, value=_float_or_nan(r.value), step=r.step, timestamp=r.timestamp)
            for r in rows
        ]

    # ---- tags --------------------------------------------------------------------------
    @endpoint("POST", "/runs/{run_id}/tags", permission="write")
    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set tags (a tag, unlike a param, may be changed)."""
        _check_run_id(run_id)
        tags = self._check_tags(tags)
        if not tags:
            return
        try:
            with self.db.write() as conn:
                self._fast["tag"].run(
                    conn, [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
                )
                audit.append(conn, action="run.tags.set", target=f"run:{run_id}", after=tags)
        except self._integrity_errors:
            with self.db.read() as conn:
                self._require_run(conn, run_id)
            raise

    @endpoint("DELETE", "/runs/{run_id}/tags", permission="write")
    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag; NotFound when the run has no such tag."""
        with self.db.write() as conn:
            result = conn.execute(_tags.delete().where(_tags.c.run_id == run_id, _tags.c.key == key))
            if result.rowcount == 0:
                self._require_run(conn, run_id)
                raise NotFound(f"Run {run_id} has no tag {key!r}.", field="key")
            audit.append(conn, action="run.tag.delete", target=f"run:{run_id}",
                         before={"key": key})

    @staticmethod
    def _check_tags(tags: Mapping[str, str]) -> dict[str, str]:
        if not isinstance(tags, Mapping):
            raise InvalidParameter(
                f"tags must be a mapping of key to text. Got {type(tags).__name__}.", field="tags"
            )
        return {
            validate_key(k, field="tag key"): _check_text(v, key=k, limit=MAX_TAG_LENGTH, what="Tag")
            for k, v in tags.items()
        }

    # ---- inputs ------------------------------------------------------------------------
    @endpoint("POST", "/runs/{run_id}/inputs", permission="write")
    def log_inputs(self, run_id: str, inputs: list[RunInput]) -> None:
        """Record dataset versions a run read (the same input twice is recorded once)."""
        _check_run_id(run_id)
        rows = self._input_rows(run_id, inputs)
        if not rows:
            return
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            cols = ("dataset", "version", "digest", "role", "as_of", "window_start", "window_end")
            have = {
                tuple(r) for r in conn.execute(
                    sa.select(*(_inputs.c[c] for c in cols)).where(_inputs.c.run_id == run_id)
                )
            }
            new = []
            for r in rows:
                ident = tuple(r[c] for c in cols)
                if ident not in have:
                    have.add(ident)
                    new.append(r)
            if new:
                conn.execute(_inputs.insert(), new)
                audit.append(conn, action="run.inputs", target=f"run:{run_id}", after=[
                    {k: v for k, v in r.items() if k != "run_id"} for r in new])

    @staticmethod
    def _input_rows(run_id: str, inputs: Iterable[RunInput]) -> list[dict[str, Any]]:
        rows = []
        for i, item in enumerate(inputs):
            if not isinstance(item, RunInput):
                try:
                    item = RunInput.model_validate(item)
                except ValueError as exc:
                    raise InvalidParameter(
                        f"inputs[{i}] must be a RunInput (dataset, version, digest, role). "
                        f"Got {item!r} instead.",
                        field="inputs",
                    ) from exc
            validate_key(item.dataset, field="dataset")
            validate_key(item.role, field="role")
            _check_text(item.digest, key="digest", limit=64, what="Input")
            rows.append({"run_id": run_id, **item.model_dump()})
        return rows

    # ---- artifacts ---------------------------------------------------------------------
    @endpoint("POST", "/runs/{run_id}/artifacts", status_code=201, permission="write")
    def log_artifact(self, run_id: str, path: str, digest: str) -> RunArtifact:
        """Attach an already-uploaded blob to a run under ``path`` (replacing an older one)."""
        _check_run_id(run_id)
        check_relative_path(path)
        check_digest(digest)
        size = self.artifacts.size(digest)  # NotFound when the blob was never uploaded
        created = self.clock.now()
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                self._upsert_artifact,
                {"run_id": run_id, "path": path, "digest": digest, "size": size,
                 "created_at": created},
            )
            audit.append(conn, action="run.artifact", target=f"run:{run_id}",
                         after={"path": path, "digest": digest, "size": size})
        return RunArtifact(path=path, digest=digest, size=size, created_at=created)

    @endpoint("GET", "/runs/{run_id}/artifacts", permission="read")
    def list_artifacts(self, run_id: str) -> list[RunArtifact]:
        """The files a run logged, by path."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(_artifacts).where(_artifacts.c.run_id == run_id).order_by(_artifacts.c.path)
            ).all()
            if not rows:
                self._require_run(conn, run_id)
        return [RunArtifact(path=r.path, digest=r.digest, size=r.size, created_at=r.created_at)
                for r in rows]

    @endpoint("POST", "/runs/by-ids", permission="read")
    def runs_by_ids(self, run_ids: list[str]) -> list[Run]:
        """Several runs at once (in the order given; unknown ids are left out)."""
        with self.db.read() as conn:
            found = {
                r.id: r for r in self._load_runs(
                    conn, sa.select(*self._run_columns()).where(_runs.c.id.in_(list(run_ids)))
                )
            }
        return [found[i] for i in run_ids if i in found]


def _m4(cols: tuple[Any, ...], where: tuple[Any, ...], lo: int, hi: int, buckets: int) -> Any:
    """The M4 reduction of one metric history: per step range, the first, last, lowest and
    highest value (window functions: SQLite >= 3.25 and PostgreSQL)."""
    width = max(1, -(-(hi - lo + 1) // buckets))  # ceil
    bucket = ((_metrics.c.step - lo) // width).label("bucket")  # integer division

    def rank(*order: Any) -> Any:
        return sa.func.row_number().over(partition_by=bucket, order_by=order)

    ranked = sa.select(
        *cols, _metrics.c.id,
        rank(_metrics.c.step, _metrics.c.id).label("r_first"),
        rank(_metrics.c.step.desc(), _metrics.c.id.desc()).label("r_last"),
        rank(_metrics.c.value.asc().nulls_last(), _metrics.c.step).label("r_min"),
        rank(_metrics.c.value.desc().nulls_last(), _metrics.c.step).label("r_max"),
    ).where(*where).subquery()
    keep = sa.or_(ranked.c.r_first == 1, ranked.c.r_last == 1, ranked.c.r_min == 1,
                  ranked.c.r_max == 1)
    return (sa.select(ranked.c.key, ranked.c.value, ranked.c.step, ranked.c.timestamp)
            .where(keep).order_by(ranked.c.step, ranked.c.timestamp, ranked.c.id))

