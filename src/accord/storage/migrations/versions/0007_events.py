"""events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import accord.storage.types


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('event_feed_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_sequence', Int64, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('registration_events',
    sa.Column('sequence', Int64, autoincrement=False, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('dataset_id', sa.String(length=64), nullable=False),
    sa.Column('registered_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('subject_key', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('match_dob', sa.Date(), nullable=True),
    sa.Column('match_postcode', sa.String(length=8), nullable=True),
    sa.PrimaryKeyConstraint('sequence')
    )
    op.create_index('ix_registration_events_id', 'registration_events', ['id'], unique=True)
    op.create_index('ix_registration_events_kind_dob', 'registration_events', ['kind', 'match_dob'], unique=False)
    op.create_index(
        'ix_registration_events_kind_postcode', 'registration_events', ['kind', 'match_postcode'], unique=False
    )
    op.create_table('event_subscriptions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('body_id', sa.String(length=64), nullable=False),
    sa.Column('agreement_id', sa.String(length=64), nullable=False),
    sa.Column('kinds', sa.JSON(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('secret_version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('feed_cursor', Int64, nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], ),
    sa.ForeignKeyConstraint(['body_id'], ['bodies.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_event_subscriptions_body_id'), 'event_subscriptions', ['body_id'], unique=False)
    op.create_index(op.f('ix_event_subscriptions_state'), 'event_subscriptions', ['state'], unique=False)
    op.create_table('event_deliveries',
    sa.Column('id', Int64, autoincrement=True, nullable=False),
    sa.Column('event_sequence', Int64, nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('decision_id', Int64, nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claim_token', sa.String(length=32), nullable=True),
    sa.Column('last_attempt_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_sequence'], ['registration_events.sequence'], ),
    sa.ForeignKeyConstraint(['subscription_id'], ['event_subscriptions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subscription_id', 'event_sequence', name='uq_event_deliveries_subscription_event')
    )
    op.create_index('ix_event_deliveries_due', 'event_deliveries', ['state', 'next_attempt_at'], unique=False)
    op.create_index('ix_event_deliveries_claim', 'event_deliveries', ['claim_token'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_event_deliveries_claim', table_name='event_deliveries')
    op.drop_index('ix_event_deliveries_due', table_name='event_deliveries')
    op.drop_table('event_deliveries')
    op.drop_index(op.f('ix_event_subscriptions_state'), table_name='event_subscriptions')
    op.drop_index(op.f('ix_event_subscriptions_body_id'), table_name='event_subscriptions')
    op.drop_table('event_subscriptions')
    op.drop_index('ix_registration_events_kind_postcode', table_name='registration_events')
    op.drop_index('ix_registration_events_kind_dob', table_name='registration_events')
    op.drop_index('ix_registration_events_id', table_name='registration_events')
    op.drop_table('registration_events')
    op.drop_table('event_feed_head')
