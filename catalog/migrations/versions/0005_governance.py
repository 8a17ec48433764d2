"""governance: API tokens, policies, approvals, a hash-chained audit log

Revision ID: 0005_governance
Revises: 0004_leader
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_governance'
down_revision = '0004_leader'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('policies',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('spec_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'name')
    )
    op.create_table('approvals',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('job', sa.String(length=512), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('requested_by', sa.String(length=255), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('policy', sa.String(length=63), nullable=False),
    sa.Column('required', sa.Integer(), nullable=False),
    sa.Column('approvers', sa.JSON(), nullable=False),
    sa.Column('decisions', sa.JSON(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approvals_state'), ['state'], unique=False)
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('anchor_id', sa.BigInteger(), nullable=False),
    sa.Column('anchor_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('firings', schema=None) as batch_op:  # room for awaiting_approval
        batch_op.alter_column('status', existing_type=sa.String(length=16), type_=sa.String(length=32),
                              existing_nullable=False)
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=16), nullable=False, server_default='ok'))
        batch_op.add_column(sa.Column('source', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=False, server_default=''))
    _chain_existing_entries()


def _chain_existing_entries() -> None:
    """Entries written before the chain existed are chained now, in id order, renumbered
    without gaps, so `unifier audit verify` covers them from here on."""
    from unifier.catalog.audit import entry_hash

    bind = op.get_bind()
    audit = sa.table('audit', sa.column('id', sa.Integer), sa.column('at', sa.DateTime(timezone=True)),
                     sa.column('actor', sa.String), sa.column('action', sa.String),
                     sa.column('target', sa.Text), sa.column('detail', sa.JSON),
                     sa.column('outcome', sa.String), sa.column('source', sa.String),
                     sa.column('prev_hash', sa.String), sa.column('hash', sa.String))
    rows = list(bind.execute(sa.select(audit).order_by(audit.c.id)))
    prev, new_id = '', 0
    if rows:
        bind.execute(audit.delete())
    for row in rows:
        new_id += 1
        digest = entry_hash(new_id, row.at, row.actor, row.action, row.target, 'ok', None, row.detail or {}, prev)
        bind.execute(audit.insert().values(id=new_id, at=row.at, actor=row.actor, action=row.action,
                                           target=row.target, detail=row.detail or {}, outcome='ok',
                                           source=None, prev_hash=prev, hash=digest))
        prev = digest
    head = sa.table('audit_head', sa.column('id', sa.Integer), sa.column('last_id', sa.BigInteger),
                    sa.column('last_hash', sa.String), sa.column('anchor_id', sa.BigInteger),
                    sa.column('anchor_hash', sa.String))
    bind.execute(head.insert().values(id=1, last_id=new_id, last_hash=prev, anchor_id=0, anchor_hash=''))


def downgrade() -> None:
    with op.batch_alter_table('firings', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=32), type_=sa.String(length=16),
                              existing_nullable=False)
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('source')
        batch_op.drop_column('outcome')
    op.drop_table('audit_head')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approvals_state'))
    op.drop_table('approvals')
    op.drop_table('policies')
    op.drop_table('api_tokens')
