"""audit witness replies: each witness's cosignature (or refusal) of a published checkpoint

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from accord.storage.types import UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_witness_replies',
        sa.Column('checkpoint_id', sa.Integer(), sa.ForeignKey('audit_checkpoints.id'), primary_key=True),
        sa.Column('witness', sa.String(length=255), primary_key=True),
        sa.Column('tree_size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('cosignature', sa.Text(), nullable=True),
        sa.Column('refusal', sa.Text(), nullable=True),
        sa.Column('answered_at', UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('audit_witness_replies')
