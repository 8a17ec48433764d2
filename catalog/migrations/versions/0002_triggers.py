"""triggers: definitions, upstream index, arrivals, the firing ledger, cursors

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 07:05:41.606302
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cursors',
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('firings',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('trigger', sa.String(length=63), nullable=False),
    sa.Column('upstream_key', sa.String(length=64), nullable=False),
    sa.Column('upstream_runs', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('actions', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('trigger', 'upstream_key', name='uq_firings_trigger_upstream')
    )
    with op.batch_alter_table('firings', schema=None) as batch_op:
        batch_op.create_index('ix_firings_status_next', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_firings_trigger_created', ['trigger', 'created_at'], unique=False)

    op.create_table('triggers',
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('spec_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('declared_paused', sa.Boolean(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('paused_reason', sa.Text(), nullable=True),
    sa.Column('baseline_event_id', sa.Integer(), nullable=False),
    sa.Column('dirty', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_triggers_dirty'), ['dirty'], unique=False)

    op.create_table('trigger_arrivals',
    sa.Column('trigger', sa.String(length=63), nullable=False),
    sa.Column('job', sa.String(length=512), nullable=False),
    sa.Column('run_id', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('consumed_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['trigger'], ['triggers.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('trigger', 'job', 'run_id')
    )
    with op.batch_alter_table('trigger_arrivals', schema=None) as batch_op:
        batch_op.create_index('ix_trigger_arrivals_open', ['trigger', 'consumed_by'], unique=False)

    op.create_table('trigger_upstreams',
    sa.Column('trigger', sa.String(length=63), nullable=False),
    sa.Column('job', sa.String(length=512), nullable=False),
    sa.Column('states', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['trigger'], ['triggers.name'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('trigger', 'job')
    )
    with op.batch_alter_table('trigger_upstreams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trigger_upstreams_job'), ['job'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('trigger_upstreams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trigger_upstreams_job'))

    op.drop_table('trigger_upstreams')
    with op.batch_alter_table('trigger_arrivals', schema=None) as batch_op:
        batch_op.drop_index('ix_trigger_arrivals_open')

    op.drop_table('trigger_arrivals')
    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_triggers_dirty'))

    op.drop_table('triggers')
    with op.batch_alter_table('firings', schema=None) as batch_op:
        batch_op.drop_index('ix_firings_trigger_created')
        batch_op.drop_index('ix_firings_status_next')

    op.drop_table('firings')
    op.drop_table('cursors')
