"""A one-shot ``unifier sync`` (what a crontab or a CI job runs: a new process each time)
costs one request when nothing changed: the config.xml cache lives in the catalog, not in
the process. Requests are counted at the Jenkins stand-in."""

from __future__ import annotations

import json
import os

import pytest
from fake_jenkins import FakeJenkins
from jenkins_testing import TOKEN_ENV

from tests.cli_helpers import run_unifier

JOBS = 60


@pytest.fixture
def sixty_jobs() -> FakeJenkins:
    fake = FakeJenkins()
    for i in range(JOBS):
        name = f"team-{i % 3}/job-{i}" if i % 2 else f"job-{i}"
        fake.add_job(name, timer_spec=f"H {i % 24} * * *" if i % 4 == 0 else None)
        fake.add_build(name, ago=300, duration=5)
    fake.start()
    yield fake
    fake.stop()


def applied(fake: FakeJenkins, catalog_url: str, tmp_path) -> dict[str, str]:
    """The environment of a user whose catalog holds instance ``ci`` (the stand-in)."""
    env = {**os.environ, "UNIFIER_DATABASE_URL": catalog_url, TOKEN_ENV: fake.users["unifier"]}
    config = tmp_path / "jenkins.yaml"
    config.write_text(f"""\
apiVersion: unifier/v1
kind: Instance
metadata: {{name: ci}}
spec:
  adapter: jenkins
  config:
    url: {fake.base}
    username: unifier
    token: ${{env:{TOKEN_ENV}}}
""")
    result = run_unifier("apply", "-f", str(config), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return env


def test_a_second_one_shot_sync_with_nothing_changed_is_one_request(sixty_jobs, catalog_url, tmp_path):
    fake = sixty_jobs
    env = applied(fake, catalog_url, tmp_path)

    first = run_unifier("sync", "-o", "json", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert json.loads(first.stdout)[0]["ok"]
    assert fake.count("GET", "config.xml") == JOBS  # the first discovery reads every job's

    before = len(fake.requests)
    second = run_unifier("sync", "-o", "json", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert json.loads(second.stdout)[0]["ok"]
    assert fake.requests[before:] == [fake.requests[before]], fake.requests[before:]
    assert fake.requests[before][1].startswith("/api/json?tree=")

    # what the cache decides from still shows: timer specs survive the cached discovery
    jobs = run_unifier("jobs", "-o", "json", env=env)
    listed = {j["native_id"]: j for j in json.loads(jobs.stdout)}
    assert len(listed) == JOBS
    assert listed["job-0"]["schedule"] is not None
    assert listed["job-2"]["schedule"] is None


def test_an_edited_job_is_read_again_by_the_next_one_shot_sync(sixty_jobs, catalog_url, tmp_path):
    fake = sixty_jobs
    env = applied(fake, catalog_url, tmp_path)
    assert run_unifier("sync", env=env).returncode == 0
    fake.job("job-4").description = "now says what it does"
    before = fake.count("GET", "config.xml")
    assert run_unifier("sync", env=env).returncode == 0
    assert fake.count("GET", "config.xml") - before == 1
