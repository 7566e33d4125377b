"""officers: people named at a body with roles, their API tokens and page sessions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import accord.storage.types


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('officers',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('body_id', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('created_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deactivated_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['body_id'], ['bodies.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_officers_body_id'), ['body_id'], unique=False)
        batch_op.create_index('ix_officers_active_subject', ['subject'], unique=True,
                              sqlite_where=sa.text('deactivated_at IS NULL'),
                              postgresql_where=sa.text('deactivated_at IS NULL'))

    op.create_table('officer_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('officer_id', sa.String(length=40), nullable=False),
    sa.Column('issued_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['officer_id'], ['officers.id'], ),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('officer_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_officer_tokens_officer_id'), ['officer_id'], unique=False)

    op.create_table('officer_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('officer_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['officer_id'], ['officers.id'], ),
    sa.PrimaryKeyConstraint('id_hash')
    )
    with op.batch_alter_table('officer_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_officer_sessions_officer_id'), ['officer_id'], unique=False)


def downgrade() -> None:
    op.drop_table('officer_sessions')
    op.drop_table('officer_tokens')
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.drop_index('ix_officers_active_subject')
        batch_op.drop_index(batch_op.f('ix_officers_body_id'))
    op.drop_table('officers')
