"""leader: who runs the control loop, and the epoch that fences a deposed leader

Revision ID: 0004_leader
Revises: 0002
Create Date: 2026-11-28 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004_leader'
down_revision = '0003_scale'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leader',
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('holder', sa.String(length=255), nullable=False),
    sa.Column('epoch', sa.BigInteger(), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('renewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('leader')
