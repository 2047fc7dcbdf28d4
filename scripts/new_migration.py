"""Write a new Alembic revision from the difference between the models and the migrations.

    .venv/bin/python scripts/new_migration.py BRANCH "message"   # BRANCH: core, datasets, serving, …

A branch that does not exist yet starts a new branch (depends on core).
"""

from __future__ import annotations

import sys
import tempfile

from alembic import command
from alembic.script import ScriptDirectory

from modelyard.store.database import create_engine
from modelyard.store.migrate import alembic_config


def main() -> None:
    branch, message = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/gen.db")
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "heads")
        script = ScriptDirectory.from_config(alembic_config())
        labels = {label for rev in script.walk_revisions() for label in rev.branch_labels}
        with engine.begin() as conn:
            cfg = alembic_config(conn)
            existing = [r for r in script.walk_revisions() if r.revision.startswith(branch + "_")]
            rev_id = f"{branch}_{len(existing) + 1:04d}"
            if branch in labels:
                command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id,
                                 head=f"{branch}@head")
            else:
                command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id,
                                 head="base", branch_label=branch, depends_on="core_0001")
    print(f"wrote revision {rev_id}")


if __name__ == "__main__":
    main()
