"""Retention: applied as a document, enforced by the pruner in small batches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.cli_helpers import run_cli
from unifier.apply import apply
from unifier.catalog.tables import FiringRow, LatestRunRow, RunEventRow, RunRow
from unifier.config import load_files
from unifier.errors import ConfigError
from unifier.model import RunState, utcnow
from unifier.pruner import Pruner, stored_retention
from unifier.testing import build_job, build_run
from unifier.triggers import ledger
from unifier.triggers.evaluate import evaluate

RETENTION = """\
apiVersion: unifier/v1
kind: Retention
metadata: {name: default}
spec:
  run_events: 10d
  removed_job_runs: 2d
  firings: 5d
  batch: 2
"""


def apply_text(catalog, tmp_path, text):
    path = tmp_path / "retention.yaml"
    path.write_text(text)
    return apply(catalog, load_files([path]))


def count(catalog, column, *where):
    with catalog.session() as s:
        return s.scalar(select(func.count(column)).where(*where))


def age(catalog, table, column, days, *where):
    with catalog.session() as s:
        s.execute(update(table).where(*where).values({column: utcnow() - timedelta(days=days)}))


@pytest.fixture
def demo(catalog):
    catalog.put_instance("demo", "fake", {"config": {}}, "h", "test")
    catalog.upsert_jobs("demo", [build_job("fake://demo/kept"), build_job("fake://demo/gone")])
    catalog.record_runs([build_run("fake://demo/kept", f"k{i}", RunState.SUCCEEDED) for i in range(3)]
                        + [build_run("fake://demo/gone", f"g{i}", RunState.FAILED) for i in range(3)])
    return catalog


def test_nothing_is_pruned_without_a_retention_document(demo):
    age(demo, RunEventRow, "recorded_at", 400)
    evaluate(demo)
    assert stored_retention(demo) is None
    assert Pruner(demo).step(force=True).deleted == {}
    assert count(demo, RunEventRow.id) == 12


def test_a_retention_document_is_applied_and_read_back(demo, tmp_path):
    [change] = apply_text(demo, tmp_path, RETENTION)
    assert str(change) == "retention/default created"
    policy = stored_retention(demo)
    assert (policy.run_events, policy.firings, policy.batch) == (timedelta(days=10), timedelta(days=5), 2)
    assert policy.audit is None  # left out: its default, keep every audit entry
    assert str(apply_text(demo, tmp_path, RETENTION)[0]) == "retention/default unchanged"


def test_a_bad_retention_is_refused_with_the_line(demo, tmp_path):
    with pytest.raises(ConfigError, match="retention.yaml:.*run_event"):
        apply_text(demo, tmp_path, RETENTION.replace("run_events: 10d", "run_event: 10d"))
    with pytest.raises(ConfigError, match="batch"):
        apply_text(demo, tmp_path, RETENTION.replace("batch: 2", "batch: 0"))
    assert stored_retention(demo) is None


def test_run_events_older_than_the_setting_go_in_batches_but_not_before_evaluation(demo, tmp_path):
    apply_text(demo, tmp_path, RETENTION)
    with demo.session() as s:
        ids = s.scalars(select(RunEventRow.id).order_by(RunEventRow.id)).all()
    old = ids[:5]
    age(demo, RunEventRow, "recorded_at", 11, RunEventRow.id.in_(old))
    age(demo, RunEventRow, "recorded_at", 9, RunEventRow.id.in_(ids[5:7]))  # younger than 10d: kept
    pruner = Pruner(demo)
    assert pruner.step(force=True).deleted["run_events"] == 0  # not yet read by the evaluation
    evaluate(demo)
    steps = [pruner.step(force=True).deleted["run_events"] for _ in range(4)]
    assert steps == [2, 2, 1, 0]
    with demo.session() as s:
        assert s.scalars(select(RunEventRow.id).order_by(RunEventRow.id)).all() == ids[5:]


def test_runs_of_jobs_removed_long_enough_ago_go_in_batches(demo, tmp_path):
    apply_text(demo, tmp_path, RETENTION)
    demo.upsert_jobs("demo", [build_job("fake://demo/kept")])  # "gone" is removed now
    pruner = Pruner(demo)
    assert pruner.step(force=True).deleted["runs"] == 0  # removed just now: kept for 2d
    from unifier.catalog.tables import JobRow
    age(demo, JobRow, "removed_at", 3, JobRow.uri == "fake://demo/gone")
    report = pruner.step(force=True)
    assert (report.deleted["runs"], report.more) == (2, True)
    assert set(demo.latest_runs()) == {"fake://demo/kept", "fake://demo/gone"}  # one run left
    assert pruner.step().deleted["runs"] == 1  # a backlog: the next step runs at once
    assert count(demo, RunRow.id, RunRow.job == "fake://demo/gone") == 0
    assert count(demo, RunRow.id, RunRow.job == "fake://demo/kept") == 3
    assert set(demo.latest_runs()) == {"fake://demo/kept"}
    assert count(demo, LatestRunRow.job) == 1
    assert pruner.step().deleted == {}  # no backlog: the next round waits for the interval


def test_only_finished_firings_older_than_the_setting_go(demo, tmp_path):
    apply_text(demo, tmp_path, RETENTION)
    now = utcnow()
    rows = [ledger.firing_row(f"t{i}", [], ["fake://demo/kept"], now) for i in range(5)]
    with demo.session() as s:
        ledger.insert_firings(s, rows)
        for i, status in enumerate(["issued", "failed", "issued", "pending", "issued"]):
            s.execute(update(FiringRow).where(FiringRow.trigger == f"t{i}").values(
                status=status, updated_at=now - timedelta(days=6 if i < 4 else 4)))
    pruner = Pruner(demo)
    assert [pruner.step(force=True).deleted["firings"] for _ in range(3)] == [2, 1, 0]
    with demo.session() as s:
        assert sorted(s.scalars(select(FiringRow.trigger))) == ["t3", "t4"]  # pending; too young


def test_retention_is_listed_by_unifier_apply(catalog_url, tmp_path, monkeypatch):
    monkeypatch.setenv("UNIFIER_DATABASE_URL", catalog_url)
    (tmp_path / "r.yaml").write_text(RETENTION)
    result = run_cli("apply", "-f", str(tmp_path / "r.yaml"))
    assert result.exit_code == 0, result.stderr
    assert "retention/default created" in result.stdout
