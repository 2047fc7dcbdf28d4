"""alert deliveries: the webhook outbox

Revision ID: monitoring_0002
Revises: monitoring_0001
Create Date: 2026-11-30 17:56:36.245417
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import modelyard.store.schema.base
from sqlalchemy.dialects import postgresql

revision = 'monitoring_0002'
down_revision = 'monitoring_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_deliveries',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('alert_id', sa.String(length=32), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('claimed_by', sa.String(length=128), nullable=True),
    sa.Column('claimed_until', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_deliveries_alert_id_alerts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_deliveries'))
    )
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_alert_deliveries_alert', ['alert_id'], unique=False)
        batch_op.create_index('ix_alert_deliveries_due', ['state', 'next_attempt_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_deliveries_due')
        batch_op.drop_index('ix_alert_deliveries_alert')

    op.drop_table('alert_deliveries')
