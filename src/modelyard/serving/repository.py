"""The serving tables: endpoints declared in YAML or through the API, and canaries with every
step. Workers of one server (and servers sharing a yard) coordinate through these rows:
a state change is a compare-and-set ``UPDATE … WHERE status = 'running' AND step = k``, so
exactly one worker records each canary step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from ..clock import Clock
from ..errors import AlreadyExists, NotFound
from ..ids import new_id
from ..store import audit
from ..store.database import Database
from ..store.schema.serving import CanaryRow, CanaryStepRow, ServingEndpointRow

__all__ = ["Canary", "CanaryStep", "ServingRepository", "StoredEndpoint"]

TERMINAL = ("promoted", "rolled_back", "aborted")


class StoredEndpoint(BaseModel):
    """An endpoint as stored: ``source`` ``api`` (declared through a server's API: served by
    every server started with its ``scope``) or ``config`` (a record of a server's command
    line or YAML, kept for lineage; never served from here)."""

    name: str
    spec: dict[str, Any]
    source: str
    scope: str = "default"
    revision: int
    served: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime


class CanaryStep(BaseModel):
    step: int
    weight: float
    action: str
    reason: str | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    at: datetime


class Canary(BaseModel):
    id: str
    endpoint: str
    route: str
    model: str
    spec: dict[str, Any]
    status: str
    step: int
    weight: float
    started_at: datetime
    updated_at: datetime
    steps: list[CanaryStep] = Field(default_factory=list)


def _stored(row: Any) -> StoredEndpoint:
    return StoredEndpoint(name=row.name, spec=row.spec, source=row.source, scope=row.scope,
                          revision=row.revision, served=row.served or {},
                          updated_at=row.updated_at)


def _canary(row: Any) -> Canary:
    return Canary(id=row.id, endpoint=row.endpoint, route=row.route, model=row.model,
                  spec=row.spec, status=row.status, step=row.step, weight=row.weight,
                  started_at=row.started_at, updated_at=row.updated_at)


class ServingRepository:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # ---- endpoints ------------------------------------------------------------------------
    def save_endpoint(self, name: str, spec: dict[str, Any], source: str,
                      scope: str = "default") -> StoredEndpoint:
        """Store an endpoint (a new revision when it exists). An endpoint declared through the
        API of another scope is not taken over (AlreadyExists: endpoint names are unique in a
        yard, since the prediction log is kept per endpoint), and a configuration's record
        never replaces an API declaration (it is then left as it is)."""
        t = ServingEndpointRow.__table__
        now = self.clock.now()
        with self.db.write() as conn:
            row = conn.execute(sa.select(t.c.revision, t.c.spec, t.c.source, t.c.scope)
                               .where(t.c.name == name)).first()
            if row is None:
                conn.execute(t.insert().values(name=name, spec=spec, source=source, scope=scope,
                                               revision=1, served={}, created_at=now,
                                               updated_at=now))
            elif row.source == "api" and source == "config":
                return self.get_endpoint(name)  # left as it is: nothing changes
            elif row.source == "api" and row.scope != scope:
                raise AlreadyExists(
                    f"Endpoint {name!r} is declared through the API of scope {row.scope!r}. "
                    f"Endpoint names are unique in a yard; choose another name, or delete it "
                    f"first (modelyard endpoints delete {name}).", field="name")
            else:
                conn.execute(t.update().where(t.c.name == name).values(
                    spec=spec, source=source, scope=scope, revision=row.revision + 1,
                    updated_at=now))
            if row is None or (row.spec, row.source) != (spec, source):
                audit.append(conn, action="endpoint.put", target=f"endpoint:{name}",
                             before=None if row is None else {"spec": row.spec,
                                                              "source": row.source},
                             after={"spec": spec, "source": source, "scope": scope})
        return self.get_endpoint(name)

    def get_endpoint(self, name: str) -> StoredEndpoint:
        t = ServingEndpointRow.__table__
        with self.db.read() as conn:
            row = conn.execute(sa.select(t).where(t.c.name == name)).first()
        if row is None:
            raise NotFound(f"No endpoint named {name!r}.", field="name")
        return _stored(row)

    def list_endpoints(self, source: str | None = None,
                       scope: str | None = None) -> list[StoredEndpoint]:
        t = ServingEndpointRow.__table__
        q = sa.select(t).order_by(t.c.name)
        if source is not None:
            q = q.where(t.c.source == source)
        if scope is not None:
            q = q.where(t.c.scope == scope)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return [_stored(r) for r in rows]

    def delete_endpoint(self, name: str) -> None:
        t = ServingEndpointRow.__table__
        with self.db.write() as conn:
            n = conn.execute(t.delete().where(t.c.name == name)).rowcount
            if n:
                audit.append(conn, action="endpoint.delete", target=f"endpoint:{name}")
        if not n:
            raise NotFound(f"No endpoint named {name!r}.", field="name")

    def set_served(self, name: str, served: dict[str, Any]) -> None:
        t = ServingEndpointRow.__table__
        with self.db.write() as conn:
            old = conn.execute(sa.select(t.c.served).where(t.c.name == name)).first()
            if old is None or (old.served or {}) == served:
                return
            conn.execute(t.update().where(t.c.name == name).values(served=served))
            audit.append(conn, action="endpoint.served", target=f"endpoint:{name}",
                         before=old.served or {}, after=served)

    # ---- canaries -------------------------------------------------------------------------
    def start_canary(self, endpoint: str, route: str, model: str, spec: dict[str, Any],
                     weight: float, *, canary_id: str | None = None) -> Canary:
        """Record a new running canary at step 0 (idempotent for a given ``canary_id``)."""
        c = CanaryRow.__table__
        now = self.clock.now()
        cid = canary_id or new_id()
        with self.db.write() as conn:
            exists = conn.execute(sa.select(c.c.id).where(c.c.id == cid)).first()
            if exists is None:
                conn.execute(c.insert().values(
                    id=cid, endpoint=endpoint, route=route, model=model, spec=spec,
                    status="running", step=0, weight=weight, started_at=now, updated_at=now))
                conn.execute(CanaryStepRow.__table__.insert().values(
                    canary_id=cid, step=0, weight=weight, action="start", reason=None, stats={},
                    at=now))
                audit.append(conn, action="canary.start", target=f"canary:{cid}", after={
                    "endpoint": endpoint, "route": route, "model": model, "spec": spec,
                    "weight": weight})
        return self.get_canary(cid)

    def get_canary(self, canary_id: str) -> Canary:
        c, s = CanaryRow.__table__, CanaryStepRow.__table__
        with self.db.read() as conn:
            row = conn.execute(sa.select(c).where(c.c.id == canary_id)).first()
            if row is None:
                raise NotFound(f"No canary with id {canary_id!r}.", field="canary_id")
            steps = conn.execute(sa.select(s).where(s.c.canary_id == canary_id)
                                 .order_by(s.c.id)).all()
        out = _canary(row)
        out.steps = [CanaryStep(step=r.step, weight=r.weight, action=r.action, reason=r.reason,
                                stats=r.stats or {}, at=r.at) for r in steps]
        return out

    def canaries(self, endpoint: str) -> list[Canary]:
        """Every canary of an endpoint, newest first (without their steps)."""
        c = CanaryRow.__table__
        with self.db.read() as conn:
            rows = conn.execute(sa.select(c).where(c.c.endpoint == endpoint)
                                .order_by(c.c.started_at.desc(), c.c.id.desc())).all()
        return [_canary(r) for r in rows]

    def latest_canaries(self, endpoints: list[str]) -> dict[str, Canary]:
        """The newest canary of each of ``endpoints`` (one query)."""
        if not endpoints:
            return {}
        c = CanaryRow.__table__
        with self.db.read() as conn:
            rows = conn.execute(sa.select(c).where(c.c.endpoint.in_(endpoints))
                                .order_by(c.c.started_at, c.c.id)).all()
        out: dict[str, Canary] = {}
        for r in rows:
            out[r.endpoint] = _canary(r)
        return out

    def advance(self, canary_id: str, from_step: int, to_step: int, weight: float,
                action: str, reason: str | None, stats: dict[str, Any]) -> bool:
        """Compare-and-set: move a running canary from ``from_step``; ``action`` is ``step``
        (stays running) or ``promote``/``rollback``/``abort`` (ends it). False when another
        worker got there first."""
        c = CanaryRow.__table__
        now = self.clock.now()
        status = {"step": "running", "promote": "promoted", "rollback": "rolled_back",
                  "abort": "aborted"}[action]
        with self.db.write() as conn:
            n = conn.execute(
                c.update()
                .where(c.c.id == canary_id, c.c.status == "running", c.c.step == from_step)
                .values(status=status, step=to_step, weight=weight, updated_at=now)
            ).rowcount
            if n:
                conn.execute(CanaryStepRow.__table__.insert().values(
                    canary_id=canary_id, step=to_step, weight=weight, action=action,
                    reason=reason, stats=stats, at=now))
                audit.append(conn, action=f"canary.{action}", target=f"canary:{canary_id}",
                             before={"step": from_step}, after={
                                 "step": to_step, "weight": weight, "status": status,
                                 "reason": reason, "stats": stats})
        return bool(n)
