"""jobs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import accord.storage.types


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('agreement_id', sa.String(length=64), nullable=False),
    sa.Column('body_id', sa.String(length=64), nullable=False),
    sa.Column('officer', sa.String(length=200), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('total', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('done', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('checkpoint', sa.Integer(), nullable=False),
    sa.Column('chunks', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_expires_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('result_location', sa.String(length=500), nullable=True),
    sa.Column('expires_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('results_deleted_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_jobs_claim', 'jobs', ['state', 'created_at'], unique=False)
    op.create_index(op.f('ix_jobs_agreement_id'), 'jobs', ['agreement_id'], unique=False)
    op.create_index(op.f('ix_jobs_body_id'), 'jobs', ['body_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_jobs_body_id'), table_name='jobs')
    op.drop_index(op.f('ix_jobs_agreement_id'), table_name='jobs')
    op.drop_index('ix_jobs_claim', table_name='jobs')
    op.drop_table('jobs')
