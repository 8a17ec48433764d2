"""zones: the work queue per zone, agents and their outbox sequence, zone leases

Revision ID: 0006_zones
Revises: 0005_governance
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_zones"
down_revision = "0005_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "zone_work",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("zone", sa.String(length=63), nullable=False),
        sa.Column("key", sa.String(length=700), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("job", sa.String(length=512), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_type", sa.String(length=64), nullable=True),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("zone", "key", name="uq_zone_work_key"),
    )
    with op.batch_alter_table("zone_work", schema=None) as batch_op:
        batch_op.create_index("ix_zone_work_zone_state", ["zone", "state"], unique=False)
    op.create_table(
        "zone_agents",
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("zone", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("first_contact_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agent_id"),
    )
    with op.batch_alter_table("zone_agents", schema=None) as batch_op:
        batch_op.create_index("ix_zone_agents_zone", ["zone"], unique=False)
    op.create_table(
        "zone_leases",
        sa.Column("zone", sa.String(length=63), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("zone"),
    )


def downgrade() -> None:
    op.drop_table("zone_leases")
    with op.batch_alter_table("zone_agents", schema=None) as batch_op:
        batch_op.drop_index("ix_zone_agents_zone")
    op.drop_table("zone_agents")
    with op.batch_alter_table("zone_work", schema=None) as batch_op:
        batch_op.drop_index("ix_zone_work_zone_state")
    op.drop_table("zone_work")
