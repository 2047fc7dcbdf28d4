"""data dictionary expectations: valid range and largest null rate of a column

Revision ID: datasets_0002
Revises: datasets_0001
Create Date: 2026-11-30 21:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'datasets_0002'
down_revision = 'datasets_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dataset_columns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('valid_min', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('valid_max', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('max_null_rate', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dataset_columns', schema=None) as batch_op:
        batch_op.drop_column('max_null_rate')
        batch_op.drop_column('valid_max')
        batch_op.drop_column('valid_min')
