"""The audit log is hash-chained: verification finds the first altered or deleted
entry, and pruning old entries keeps what remains verifiable."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import delete, update

from unifier.catalog import audit as audit_log
from unifier.catalog.tables import AuditRow
from unifier.model import utcnow
from unifier.service import prune_audit


def verify(catalog) -> audit_log.Verification:
    with catalog.session() as s:
        return audit_log.verify(s)


def fill(catalog, n: int) -> None:
    for i in range(n):
        catalog.audit("trigger", f"cron://hosts/job{i}", {"run_id": f"r{i}"}, actor="alice",
                      outcome="ok", source="10.0.0.1")


def test_an_intact_log_verifies(catalog):
    assert verify(catalog) == audit_log.Verification(True, 0)
    fill(catalog, 5)
    assert verify(catalog) == audit_log.Verification(True, 5)


def test_an_edited_entry_is_named(catalog):
    fill(catalog, 5)
    with catalog.session() as s:
        s.execute(update(AuditRow).where(AuditRow.id == 3).values(actor="mallory"))
    result = verify(catalog)
    assert (result.ok, result.entry, result.problem) == (False, 3, "entry 3 was altered")


def test_an_edited_detail_or_rehashed_entry_is_named(catalog):
    fill(catalog, 4)
    with catalog.session() as s:
        row = s.get(AuditRow, 2)
        row.detail = {"run_id": "other"}
        row.hash = audit_log.row_hash(row)  # recomputed: the next entry's prev_hash no longer matches
    assert verify(catalog).entry == 3


def test_a_deleted_entry_is_named_even_the_newest(catalog):
    fill(catalog, 5)
    with catalog.session() as s:
        s.execute(delete(AuditRow).where(AuditRow.id == 2))
    assert (verify(catalog).ok, verify(catalog).entry) == (False, 2)
    with catalog.session() as s:
        s.execute(delete(AuditRow).where(AuditRow.id >= 2))
    assert verify(catalog).problem == "entry 2 was deleted"


def test_pruning_keeps_the_rest_verifiable_and_a_later_deletion_still_shows(catalog):
    fill(catalog, 10)
    with catalog.session() as s:  # the first six are old
        s.execute(update(AuditRow).where(AuditRow.id <= 6).values(at=utcnow() - timedelta(days=400)))
        # an edit of `at` breaks those entries' hashes: rehash to stand for entries written back then
        prev = ""
        for row in s.query(AuditRow).order_by(AuditRow.id):
            row.prev_hash = prev
            row.hash = prev = audit_log.row_hash(row)
        head = s.get(audit_log.AuditHeadRow, audit_log.HEAD_ID)
        head.last_hash = prev
    assert verify(catalog).ok
    assert prune_audit(catalog, utcnow() - timedelta(days=365), batch=4) == 6
    result = verify(catalog)
    assert (result.ok, result.checked) == (True, 4)
    fill(catalog, 1)
    assert verify(catalog) == audit_log.Verification(True, 5)
    with catalog.session() as s:
        s.execute(delete(AuditRow).where(AuditRow.id == 7))  # the first entry after the anchor
    assert verify(catalog).problem == "entry 7 was deleted"


def test_concurrent_writers_chain_one_after_the_other(catalog):
    def write(who: str) -> None:
        for i in range(10):
            catalog.audit("trigger", f"job{i}", {}, actor=who)

    threads = [threading.Thread(target=write, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert verify(catalog) == audit_log.Verification(True, 40)


def test_entries_written_before_the_chain_are_chained_by_the_migration(catalog_url):
    from alembic import command
    from sqlalchemy import text

    from unifier.catalog import Catalog
    from unifier.catalog.database import _alembic_config, create_catalog_engine

    engine = create_catalog_engine(catalog_url)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    with engine.begin() as connection:  # as an older unifier wrote them: ids with a gap
        for entry_id in (3, 7):
            connection.execute(text("INSERT INTO audit (id, at, actor, action, target, detail) "
                                    "VALUES (:id, :at, 'old', 'apply.created', 'instance/x', '{}')"),
                               {"id": entry_id, "at": utcnow()})
    engine.dispose()
    catalog = Catalog.open(catalog_url)  # migrates to head
    try:
        assert verify(catalog) == audit_log.Verification(True, 2)
        catalog.audit("trigger", "cron://h/j", actor="new")
        assert verify(catalog) == audit_log.Verification(True, 3)
    finally:
        catalog.close()
