"""The remote CLI's listings page through the API: filters go as query parameters and
each next page is asked for with the cursor of the answer's ``Link`` header, so a remote
listing holds what the local one does, ``--limit`` and ``--cursor`` included."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from unifier.api import create_app
from unifier.auth import LOCAL_ADMIN
from unifier.catalog.listing import JobFilter, RunFilter
from unifier.cli import remote
from unifier.cli.remote import RemoteClient
from unifier.model import RunState
from unifier.service import Service
from unifier.testing import build_job, build_run


@pytest.fixture
def pair(catalog, monkeypatch):
    catalog.put_instance("hosts", "cron", {"config": {}}, "h1", "unifier.yaml")
    catalog.upsert_jobs("hosts", [build_job(f"cron://hosts/job-{i}", owner="ops" if i % 2 else "data")
                                  for i in range(7)])
    catalog.record_runs([build_run(f"cron://hosts/job-{i % 3}", f"r{i}",
                                   RunState.FAILED if i % 2 else RunState.SUCCEEDED) for i in range(8)])
    monkeypatch.setattr(remote, "MAX_PAGE", 2)  # so that every listing takes several pages
    client = RemoteClient("http://test", None)
    client.http = TestClient(create_app(lambda: catalog), base_url="http://test")
    return client, Service(catalog, LOCAL_ADMIN)


def test_a_remote_listing_follows_the_link_header_to_the_same_rows(pair):
    client, local = pair
    assert [j.uri for j in client.jobs().items] == [j.uri for j in local.jobs().items]
    assert len(client.jobs(JobFilter(instance="hosts")).items) == 7
    where = JobFilter(owner="ops")
    assert [j.uri for j in client.jobs(where).items] == [j.uri for j in local.jobs(where).items]
    assert [r.job for r in client.status(sort="last_run").items] == \
        [r.job for r in local.status(sort="last_run").items]
    failed = RunFilter(states=[RunState.FAILED])
    assert [r.run_id for r in client.runs(failed, limit=None).items] == \
        [r.run_id for r in local.runs(failed, limit=None).items]
    assert {"r7", "r5", "r3", "r1"} <= {r.run_id for r in client.runs(failed, limit=None).items}


def test_limit_and_cursor_resume_where_the_last_page_ended(pair):
    client, _ = pair
    hosts = JobFilter(instance="hosts")
    first = client.jobs(hosts, limit=3)
    assert len(first.items) == 3 and first.next_cursor
    rest = client.jobs(hosts, cursor=first.next_cursor)
    assert [j.uri for j in first.items + rest.items] == [f"cron://hosts/job-{i}" for i in range(7)]
    assert rest.next_cursor is None
