"""linkage models

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import accord.storage.types


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('linkage_models',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('agreement_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('model', sa.Text(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('trained_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('training', sa.JSON(), nullable=False),
    sa.Column('trained_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('agreement_id', 'version', name='uq_linkage_models_agreement_version')
    )
    with op.batch_alter_table('linkage_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_linkage_models_agreement_id'), ['agreement_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('linkage_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_linkage_models_agreement_id'))

    op.drop_table('linkage_models')
