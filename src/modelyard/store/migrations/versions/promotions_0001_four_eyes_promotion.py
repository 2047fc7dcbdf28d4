"""four-eyes promotion: aliases that need a second person, and promotion requests

Revision ID: promotions_0001
Revises: 
Create Date: 2026-11-30 21:20:00.000000
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import modelyard.store.schema.base


revision = 'promotions_0001'
down_revision = None
branch_labels = ('promotions',)
depends_on = 'core_0001'


def upgrade() -> None:
    op.create_table('four_eyes_aliases',
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('alias', sa.String(length=256), nullable=False),
    sa.Column('created_at', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=256), nullable=True),
    sa.PrimaryKeyConstraint('model', 'alias', name=op.f('pk_four_eyes_aliases'))
    )
    op.create_table('promotion_requests',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('alias', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('report_id', sa.String(length=32), nullable=True),
    sa.Column('report_status', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('override', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.String(length=256), nullable=False),
    sa.Column('requested_at', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=256), nullable=True),
    sa.Column('decided_at', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotion_requests'))
    )
    with op.batch_alter_table('promotion_requests', schema=None) as batch_op:
        batch_op.create_index('ix_promotion_requests_model_state', ['model', 'state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('promotion_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_promotion_requests_model_state')
    op.drop_table('promotion_requests')
    op.drop_table('four_eyes_aliases')
