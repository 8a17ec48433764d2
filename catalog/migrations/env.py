"""Alembic environment: run programmatically by unifier.catalog.migrate(); the engine
arrives in ``config.attributes["connection"]``."""

from alembic import context

from unifier.catalog.tables import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
