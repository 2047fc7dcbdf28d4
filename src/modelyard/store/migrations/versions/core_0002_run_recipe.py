"""run recipe: the training recipe retrain executes, stored with the run at creation

Runs made before this revision kept it in the mutable tag ``modelyard.training``; the tag's
value (as it is at upgrade time) becomes the run's recipe.

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-30 17:48:48.209128
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'core_0002'
down_revision = 'core_0001'
branch_labels = None
depends_on = None

_TAG = 'modelyard.training'


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipe', json_type, nullable=True))
    runs = sa.table('runs', sa.column('id', sa.String), sa.column('recipe', json_type))
    tags = sa.table('run_tags', sa.column('run_id', sa.String), sa.column('key', sa.String),
                    sa.column('value', sa.Text))
    bind = op.get_bind()
    for run_id, value in bind.execute(sa.select(tags.c.run_id, tags.c.value)
                                      .where(tags.c.key == _TAG)).all():
        try:
            recipe = json.loads(value)
        except ValueError:
            continue
        if isinstance(recipe, dict):
            bind.execute(runs.update().where(runs.c.id == run_id).values(recipe=recipe))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('recipe')
