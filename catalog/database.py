"""Where the catalog lives, opening it, and keeping its schema current.

SQLite at ``$UNIFIER_HOME/unifier.db`` by default (``UNIFIER_HOME`` defaults to
``~/.unifier``); ``UNIFIER_DATABASE_URL`` selects another database, e.g.
``postgresql+psycopg://user@host/db``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from unifier.errors import CatalogError
from unifier.home import unifier_home

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def database_url() -> str:
    url = os.environ.get("UNIFIER_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{unifier_home() / 'unifier.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the control loop write while the CLI reads; the busy timeout makes
    # concurrent writers wait instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # job URIs and scope patterns compare case-sensitively, as on PostgreSQL
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.close()


def create_catalog_engine(url: str | None = None) -> Engine:
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.drivername == "postgresql":  # plain postgresql:// means psycopg 3 here
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def dialect_insert(conn: Connection) -> Callable[..., Any]:
    """``insert`` of the catalog's database, with its ``on_conflict_do_*`` upserts."""
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    raise NotImplementedError(f"upserts on a {name} catalog")  # the catalog runs on SQLite or PostgreSQL only


def _alembic_config() -> Config:
    from alembic.config import Config  # alembic is imported only when a catalog is opened

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when already there)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = _alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            if current == head:
                return
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except Exception as exc:
        raise CatalogError(f"cannot open the catalog at {engine.url!r}: {exc}") from exc
