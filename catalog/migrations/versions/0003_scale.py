"""scale: the latest run of each job (backfilled), indexes for the listings, retention

Revision ID: 0003_scale
Revises: 0002
Create Date: 2026-11-28 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0003_scale'
down_revision = '0002'
branch_labels = None
depends_on = None

# (name, leading columns) of the newest-first run indexes; each ends with started_at, id
_RUN_SORTS = [
    ('ix_runs_started', []),
    ('ix_runs_state_started', ['state']),
    ('ix_runs_instance_started', ['instance']),
]


def _create_run_sort_indexes() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        # PostgreSQL sorts NULL first in a DESC scan; the listings put runs that never
        # started last, so the index carries that order itself
        for name, leading in _RUN_SORTS:
            columns = ', '.join([*leading, 'started_at DESC NULLS LAST', 'id DESC'])
            op.execute(f'CREATE INDEX {name} ON runs ({columns})')
        return
    # SQLite's NULL is the smallest value: a reverse scan of an ascending index is
    # exactly "DESC NULLS LAST"
    for name, leading in _RUN_SORTS:
        op.create_index(name, 'runs', [*leading, 'started_at', 'id'])


def upgrade() -> None:
    op.create_table('latest_runs',
    sa.Column('job', sa.String(length=512), nullable=False),
    sa.Column('run', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('job')
    )
    # backfill: the newest run of each job is the one stored last
    op.execute('INSERT INTO latest_runs (job, run) SELECT job, max(id) FROM runs GROUP BY job')
    op.create_table('retention',
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('spec_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    # the composite indexes below lead with these columns: the single ones are redundant
    op.drop_index('ix_runs_instance', table_name='runs')
    op.drop_index('ix_runs_state', table_name='runs')
    _create_run_sort_indexes()
    op.create_index('ix_run_events_recorded_at', 'run_events', ['recorded_at'])
    op.create_index('ix_firings_status_updated', 'firings', ['status', 'updated_at'])


def downgrade() -> None:
    op.drop_index('ix_firings_status_updated', table_name='firings')
    op.drop_index('ix_run_events_recorded_at', table_name='run_events')
    for name, _ in reversed(_RUN_SORTS):
        op.drop_index(name, table_name='runs')
    op.create_index('ix_runs_state', 'runs', ['state'])
    op.create_index('ix_runs_instance', 'runs', ['instance'])
    op.drop_table('retention')
    op.drop_table('latest_runs')
