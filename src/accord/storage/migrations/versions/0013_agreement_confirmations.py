"""agreement confirmations: every named party confirms a draft before it goes to consultation

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import accord.storage.types


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agreement_confirmations',
    sa.Column('agreement_id', sa.String(length=64), nullable=False),
    sa.Column('body_id', sa.String(length=64), nullable=False),
    sa.Column('confirmed_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], ),
    sa.ForeignKeyConstraint(['body_id'], ['bodies.id'], ),
    sa.PrimaryKeyConstraint('agreement_id', 'body_id')
    )
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposer_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agreements', schema=None) as batch_op:
        batch_op.drop_column('proposer_id')
    op.drop_table('agreement_confirmations')
