"""The migrations produce exactly the models, on both backends, and run once."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from modelyard.store.database import create_engine, open_database
from modelyard.store.migrate import alembic_config, pending
from modelyard.store.schema import Base


def test_migrations_match_models(db_url: str) -> None:
    db = open_database(db_url)
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    db.dispose()
    assert diff == [], f"migrations and models differ: {diff}"


def test_every_branch_has_one_head() -> None:
    """Each domain's branch is a single line of revisions (two heads in one branch would make
    `upgrade heads` order-dependent)."""
    script = ScriptDirectory.from_config(alembic_config())
    bases = [script.get_revision(b) for b in script.get_bases()]
    labels = [label for rev in bases for label in rev.branch_labels]
    assert len(labels) == len(bases), "every branch base carries a branch label"
    assert len(script.get_heads()) == len(bases)


def test_upgrade_is_idempotent_and_recorded(sqlite_url: str) -> None:
    open_database(sqlite_url).dispose()
    engine = create_engine(sqlite_url)
    assert not pending(engine)
    open_database(sqlite_url).dispose()  # second open: nothing to do, nothing fails
    with engine.connect() as conn:
        versions = {r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}
    # every head is recorded but `core`, which the other branches only depend on
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert versions and versions <= heads and heads - versions <= {"core_0001"}
    engine.dispose()
