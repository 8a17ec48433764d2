"""Fixtures shared by every test: an isolated UNIFIER_HOME and catalogs on SQLite and
PostgreSQL (the latter where a server answers; otherwise skipped, saying why)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from unifier.catalog import Catalog

POSTGRES_ADMIN_URL = os.environ.get(
    "UNIFIER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def unifier_home(tmp_path, monkeypatch) -> str:
    """Every test gets its own UNIFIER_HOME, so no test touches ~/.unifier."""
    home = tmp_path / "unifier-home"
    monkeypatch.setenv("UNIFIER_HOME", str(home))
    monkeypatch.delenv("UNIFIER_DATABASE_URL", raising=False)
    return str(home)


def _postgres_database() -> Iterator[str]:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    try:
        admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = f"unifier_test_{uuid.uuid4().hex[:10]}"
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # no server here: say so instead of failing or hiding it
        if os.environ.get("UNIFIER_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}")
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def catalog(catalog_url) -> Iterator[Catalog]:
    cat = Catalog.open(catalog_url)
    yield cat
    cat.close()
