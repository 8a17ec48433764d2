"""Migrating a catalog made on the 0002 schema: its runs' latest-run index is backfilled."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import text

from unifier.catalog import Catalog
from unifier.catalog.database import _alembic_config, create_catalog_engine
from unifier.model import RunState, utcnow
from unifier.status import status_rows
from unifier.testing import build_job


def test_upgrade_from_0002_backfills_the_latest_run_of_each_job(catalog_url):
    engine = create_catalog_engine(catalog_url)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    t0 = utcnow() - timedelta(hours=1)
    with engine.begin() as connection:  # rows as the 0002 code wrote them
        connection.execute(text(
            "INSERT INTO instances (name, adapter, spec, spec_hash, created_at, updated_at) "
            "VALUES ('hosts', 'cron', '{}', 'h', :t, :t)"), {"t": t0})
        for i, (job, run_id, state) in enumerate([
                ("cron://hosts/a", "1", "succeeded"), ("cron://hosts/a", "2", "failed"),
                ("cron://hosts/b", "1", "running"), ("cron://hosts/a", "3", "succeeded")]):
            connection.execute(text(
                "INSERT INTO runs (job, instance, run_id, state, attempt, started_at, parameters, cause, "
                "details, first_seen_at, updated_at) VALUES (:job, 'hosts', :run_id, :state, 1, :t, '{}', "
                "'{}', '{}', :t, :t)"), {"job": job, "run_id": run_id, "state": state,
                                         "t": t0 + timedelta(minutes=i)})
    engine.dispose()

    catalog = Catalog.open(catalog_url)  # migrates to the newest schema
    try:
        catalog.upsert_jobs("hosts", [build_job("cron://hosts/a"), build_job("cron://hosts/b"),
                                      build_job("cron://hosts/never")])
        latest = {job: (run.run_id, run.state) for job, run in catalog.latest_runs().items()}
        assert latest == {"cron://hosts/a": ("3", RunState.SUCCEEDED), "cron://hosts/b": ("1", RunState.RUNNING)}
        rows = {r.job: (r.last_run_id, r.state) for r in status_rows(catalog)}
        assert rows == {"cron://hosts/a": ("3", RunState.SUCCEEDED), "cron://hosts/b": ("1", RunState.RUNNING),
                        "cron://hosts/never": (None, None)}
        failed = catalog.list_runs(states=[RunState.FAILED])
        assert [(r.job, r.run_id) for r in failed] == [("cron://hosts/a", "2")]
    finally:
        catalog.close()
