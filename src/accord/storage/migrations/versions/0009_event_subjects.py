"""event subjects: a registration that names no one by NINO, name and birth date has no subject key

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('registration_events') as batch:
        batch.alter_column('subject_key', existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('registration_events') as batch:
        batch.alter_column('subject_key', existing_type=sa.String(length=64), nullable=False)
