"""One leader per catalog, and the fence that stops a deposed one (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import _postgres_database
from unifier.catalog import Catalog
from unifier.leader import Deposed, LeaderSettings, Leadership, current_leader
from unifier.model import RunKey, utcnow
from unifier.triggers import ledger
from unifier.triggers.store import list_firings


def replica(url: str, name: str) -> Leadership:
    return Leadership(Catalog.open(url), LeaderSettings(replica_id=name))


def pending_firing(catalog: Catalog) -> str:
    row = ledger.firing_row("t", [RunKey(job="fake://up/a", run_id="r1")], ["fake://down/b"], utcnow())
    with catalog.session() as s:
        ledger.insert_firings(s, [row])
    return row["id"]


def test_one_replica_leads_the_other_stands_by_until_it_steps_down(catalog_url):
    first, second = replica(catalog_url, "first"), replica(catalog_url, "second")
    try:
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        info = current_leader(first.catalog)
        assert (info.holder, info.epoch) == ("first", 1)
        assert first.renew() is True

        first.release()
        assert second.try_acquire() is True
        info = current_leader(second.catalog)
        assert (info.holder, info.epoch) == ("second", 2)
        assert info.renewed_at >= info.acquired_at
    finally:
        for r in (first, second):
            r.release()
            r.catalog.close()


def test_a_deposed_leader_cannot_record_an_attempt_or_a_run(catalog_url):
    """``first`` still believes it leads (a process that slept through its deposition):
    every ledger write it tries is refused, and the ledger is left as ``second`` has it."""
    first, second = replica(catalog_url, "first"), replica(catalog_url, "second")
    try:
        fid = pending_firing(first.catalog)
        assert first.try_acquire()
        assert [f.attempts for f in ledger.claim_due(first.catalog, fence=first)] == [1]
        stale_epoch = first.epoch
        first.release()
        assert second.try_acquire()
        first.epoch = stale_epoch  # it wakes up not knowing

        with pytest.raises(Deposed):
            ledger.claim_due(first.catalog, fence=first)
        with pytest.raises(Deposed):
            ledger.record_actions(first.catalog, [(fid, 0, RunKey(job="fake://down/b", run_id="x"),
                                                   _cause(fid))], fence=first)
        [firing] = list_firings(second.catalog)
        assert (firing.status, firing.attempts, firing.downstream_runs) == ("pending", 1, [])

        assert [f.attempts for f in ledger.claim_due(second.catalog, fence=second)] == [2]  # the leader goes on
    finally:
        for r in (first, second):
            r.release()
            r.catalog.close()


def _cause(fid: str):
    from unifier.model import Cause, CauseKind

    return Cause(kind=CauseKind.TRIGGER, trigger="t", firing_id=fid)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_database()


@pytest.mark.postgres
def test_a_leader_whose_session_dies_is_replaced_and_notices_at_its_next_heartbeat(postgres_url):
    """The PostgreSQL session holding the lock ends under the leader (as after a network
    partition): the standby takes over, the old leader's writes are fenced off, and its
    heartbeat tells it it no longer leads."""
    catalog_url = postgres_url
    first, second = replica(catalog_url, "first"), replica(catalog_url, "second")
    admin = create_engine(catalog_url, isolation_level="AUTOCOMMIT")
    try:
        pending_firing(first.catalog)
        assert first.try_acquire()
        with admin.connect() as conn:
            ended = conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            )).scalars().all()
        assert ended == [True]
        assert second.try_acquire()
        with pytest.raises(Deposed):
            ledger.claim_due(first.catalog, fence=first)
        assert first.renew() is False and not first.leading
        assert current_leader(second.catalog).holder == "second"
    finally:
        admin.dispose()
        for r in (first, second):
            r.release()
            r.catalog.close()


async def test_every_replica_answers_which_one_leads(catalog_url):
    """``GET /api/leader`` reads the catalog: a standby's API names the leader too."""
    import httpx

    from unifier.api import create_app

    leading, standby = replica(catalog_url, "leading"), replica(catalog_url, "standby")
    try:
        app = create_app(lambda: standby.catalog)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.get("/api/leader")).json() is None  # nobody has led yet
            assert leading.try_acquire() and not standby.try_acquire()
            answer = (await client.get("/api/leader")).json()
        assert (answer["replica"], answer["epoch"]) == ("leading", 1)
        assert answer["since"] <= answer["heartbeat"]
    finally:
        for r in (leading, standby):
            r.release()
            r.catalog.close()
