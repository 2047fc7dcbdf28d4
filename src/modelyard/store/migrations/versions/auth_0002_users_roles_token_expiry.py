"""users, roles, token expiry and last use

Every existing token becomes a token of a user of the same name, who holds the token's role
under its new name (reader -> viewer, writer -> editor, admin -> admin; the role of the newest
active token, else of the newest token, when several had the name).

Revision ID: auth_0002
Revises: auth_0001
Create Date: 2026-11-30 21:00:00.000000
"""
from __future__ import annotations

from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa
import modelyard.store.schema.base


revision = 'auth_0002'
down_revision = 'auth_0001'
branch_labels = None
depends_on = None

_ROLES = {"reader": "viewer", "writer": "editor", "admin": "admin"}


def upgrade() -> None:
    op.create_table('users',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('display_name', sa.String(length=256), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=256), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_users'))
    )
    op.create_table('user_roles',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_name', sa.String(length=256), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('pattern', sa.String(length=256), nullable=False),
    sa.Column('created_at', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=256), nullable=True),
    sa.ForeignKeyConstraint(['user_name'], ['users.name'], name=op.f('fk_user_roles_user_name_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_roles')),
    sa.UniqueConstraint('user_name', 'role', 'pattern', name='uq_user_roles_grant')
    )
    with op.batch_alter_table('user_roles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_roles_user_name'), ['user_name'], unique=False)

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_name', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('expires_at', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_used_at', modelyard.store.schema.base.UTCDateTime(timezone=True), nullable=True))

    # each token's name becomes a user holding the token's role
    bind = op.get_bind()
    tokens = sa.table('api_tokens', sa.column('id'), sa.column('name'), sa.column('role'),
                      sa.column('created_at', modelyard.store.schema.base.UTCDateTime()),
                      sa.column('revoked_at'), sa.column('user_name'))
    users = sa.table('users', sa.column('name'), sa.column('display_name'), sa.column('disabled'),
                     sa.column('created_at', modelyard.store.schema.base.UTCDateTime()),
                     sa.column('created_by'))
    grants = sa.table('user_roles', sa.column('user_name'), sa.column('role'),
                      sa.column('pattern'),
                      sa.column('created_at', modelyard.store.schema.base.UTCDateTime()),
                      sa.column('created_by'))
    rows = bind.execute(sa.select(tokens.c.name, tokens.c.role, tokens.c.created_at,
                                  tokens.c.revoked_at)
                        .order_by(tokens.c.created_at, tokens.c.id)).all()
    first: dict[str, datetime] = {}
    role: dict[str, tuple[bool, str]] = {}  # name -> (active, role) of the one that decides
    for r in rows:
        first.setdefault(r.name, r.created_at or datetime.now(UTC))
        active = r.revoked_at is None
        if active or not role.get(r.name, (False, ""))[0]:
            role[r.name] = (active, _ROLES.get(r.role, "viewer"))
    for name, created in first.items():
        bind.execute(users.insert().values(name=name, display_name=None, disabled=False,
                                           created_at=created, created_by="migration"))
        bind.execute(grants.insert().values(user_name=name, role=role[name][1], pattern='*',
                                            created_at=created, created_by="migration"))
    bind.execute(tokens.update().values(user_name=tokens.c.name))

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('user_name', existing_type=sa.String(length=256), nullable=False)
        batch_op.create_index(batch_op.f('ix_api_tokens_user_name'), ['user_name'], unique=False)
        batch_op.drop_column('role')


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=16), nullable=False,
                                      server_default='reader'))
    bind = op.get_bind()
    bind.execute(sa.text(
        "UPDATE api_tokens SET role = COALESCE((SELECT CASE r.role WHEN 'admin' THEN 'admin' "
        "WHEN 'editor' THEN 'writer' ELSE 'reader' END FROM user_roles r WHERE "
        "r.user_name = api_tokens.user_name AND r.pattern = '*' ORDER BY CASE r.role WHEN "
        "'admin' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END LIMIT 1), 'reader')"))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_name'))
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('user_name')
    with op.batch_alter_table('user_roles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_roles_user_name'))
    op.drop_table('user_roles')
    op.drop_table('users')
