"""sharecodes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import accord.storage.types


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consents',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('schema_version', sa.String(length=64), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('controller_id', sa.String(length=64), nullable=False),
    sa.Column('dataset_id', sa.String(length=64), nullable=False),
    sa.Column('purpose_code', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('purpose_iri', sa.String(length=200), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('processing', sa.JSON(), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.String(length=200), nullable=False),
    sa.Column('legal_basis_iri', sa.String(length=200), nullable=False),
    sa.Column('record_locator', sa.LargeBinary(length=512), nullable=False),
    sa.Column('given_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('receipt_id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('receipt_id')
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_person_key'), ['person_key'], unique=False)

    op.create_table('share_codes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('consent_id', sa.String(length=40), nullable=False),
    sa.Column('person_key', sa.String(length=64), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('created_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('multiple_use', sa.Boolean(), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('last_used_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', accord.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code_hash')
    )
    with op.batch_alter_table('share_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_codes_consent_id'), ['consent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_codes_person_key'), ['person_key'], unique=False)

    op.create_table('share_code_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('attempted_at', accord.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('caller', sa.String(length=100), nullable=False),
    sa.Column('share_code_id', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('failed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['share_code_id'], ['share_codes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('share_code_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_share_code_attempts_caller', ['caller', 'attempted_at'], unique=False)
        batch_op.create_index('ix_share_code_attempts_code', ['share_code_id', 'attempted_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('share_code_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_share_code_attempts_code')
        batch_op.drop_index('ix_share_code_attempts_caller')
    op.drop_table('share_code_attempts')

    with op.batch_alter_table('share_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_codes_person_key'))
        batch_op.drop_index(batch_op.f('ix_share_codes_consent_id'))
    op.drop_table('share_codes')

    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_person_key'))
    op.drop_table('consents')
