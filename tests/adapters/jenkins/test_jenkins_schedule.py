"""Jenkins timer specs: H hashed from the job's full name exactly as Jenkins does, and next
runs that match Jenkins' own (fixtures described in fixtures/README.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from unifier.adapters.jenkins.schedule import CronSpecError, JavaRandom, resolve

FIXTURES = Path(__file__).parent / "fixtures"

# core/src/test/java/hudson/scheduler/CronTabTest.java (jenkinsci/jenkins): seed, spec,
# start, the time Jenkins' CronTab.ceil returns (ceil is inclusive; no start here matches)
JENKINS_CRONTAB_TEST = [
    ("stuff", "H 17 * * *", (2013, 3, 21, 16, 21), (2013, 3, 21, 17, 56)),
    ("stuff", "H * * * *", (2013, 3, 21, 16, 21), (2013, 3, 21, 16, 56)),
    ("stuff", "@hourly", (2013, 3, 21, 16, 21), (2013, 3, 21, 16, 56)),
    ("junk", "@hourly", (2013, 3, 21, 16, 21), (2013, 3, 21, 17, 20)),
    ("stuff", "H H(12-13) * * *", (2013, 3, 21, 16, 21), (2013, 3, 22, 13, 56)),
    ("stuff", "H/15 * * * *", (2013, 3, 21, 16, 21), (2013, 3, 21, 16, 26)),
    ("stuff", "H/15 * * * *", (2013, 3, 21, 16, 31), (2013, 3, 21, 16, 41)),
    ("stuff", "H/15 * * * *", (2013, 3, 21, 16, 42), (2013, 3, 21, 16, 56)),
    ("stuff", "H/15 * * * *", (2013, 3, 21, 16, 59), (2013, 3, 21, 17, 11)),
    ("junk", "H(0-15)/3 * * * *", (2013, 3, 21, 0, 0), (2013, 3, 21, 0, 2)),
    ("junk", "H(0-3)/4 * * * *", (2013, 3, 21, 0, 0), (2013, 3, 21, 0, 2)),
    ("junk", "H(0-3)/4 * * * *", (2013, 3, 21, 0, 5), (2013, 3, 21, 1, 2)),
    # testCeil3: day of month AND day of week (a Sunday the 1st), where Vixie cron would OR them
    ("any", "0 0 1 * 0", (2010, 1, 1, 15, 55), (2010, 8, 1, 0, 0)),
    ("any", "0 0 1 * 7", (2010, 1, 1, 15, 55), (2010, 8, 1, 0, 0)),
]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(("seed", "spec", "start", "expected"), JENKINS_CRONTAB_TEST)
def test_next_run_matches_jenkins_own_tests(seed, spec, start, expected):
    assert resolve(spec, seed).next_runs(utc(*start)) == [utc(*expected)]


def jvm_cases():
    data = json.loads((FIXTURES / "h_syntax.json").read_text())
    after = datetime.fromisoformat(data["after"].replace("Z", "+00:00"))
    return [pytest.param(case, after, id=f"{case['job']}|{case['spec']}") for case in data["cases"]]


@pytest.mark.parametrize(("case", "after"), jvm_cases())
def test_hash_and_next_runs_match_the_jvm(case, after):
    spec = resolve(case["spec"], case["job"])
    expected_lines = []
    for values in case["values"]:
        fields = []
        for i, allowed in enumerate(values):
            full = {0: range(60), 1: range(24), 2: range(1, 32), 3: range(1, 13), 4: range(7)}[i]
            fields.append("*" if allowed == list(full) else ",".join(map(str, allowed)))
        expected_lines.append(" ".join(fields))
    assert list(spec.lines) == expected_lines
    expected_runs = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in case["next_runs"]]
    assert spec.next_runs(after, count=len(expected_runs)) == expected_runs


def test_the_same_spec_spreads_across_job_names():
    minutes = {resolve("H * * * *", f"folder/job-{i}").lines[0].split()[0] for i in range(40)}
    assert len(minutes) > 20  # the point of H: jobs do not all fire at :00


def test_one_random_serves_every_line_in_order():
    # the second line's H continues the sequence of the first, so it is not the first line's value
    both = resolve("H * * * *\nH * * * *", "team-a/build")
    alone = resolve("H * * * *", "team-a/build")
    assert both.lines[0] == alone.lines[0]
    assert both.lines[1] != both.lines[0]


def test_tz_line_sets_the_zone_and_default_applies_otherwise():
    paris = resolve("TZ=Europe/Paris\n30 2 * * *", "x")
    assert paris.timezone == "Europe/Paris"
    assert paris.next_runs(utc(2026, 7, 1, 0, 0)) == [utc(2026, 7, 1, 0, 30)]  # 02:30 CEST
    tokyo = resolve("30 2 * * *", "x", default_timezone="Asia/Tokyo")
    assert tokyo.next_runs(utc(2026, 7, 1, 0, 0)) == [utc(2026, 7, 1, 17, 30)]


def test_comments_and_blank_lines_are_skipped():
    assert resolve("# nightly\n\n15 3 * * *\n", "x").lines == ("15 3 * * *",)


@pytest.mark.parametrize(("spec", "reason"), [
    ("H(0-3)/15 * * * *", "must be within 1 and 4"),  # Jenkins' own hashSkips refusal
    ("TZ=Mars/Olympus\nH * * * *", "Invalid or unsupported timezone"),
    ("H * * *", "expected 5 fields"),
    ("0 0 * * MON", "cannot parse 'MON'"),  # Jenkins takes numbers only
    ("61 * * * *", "invalid value for minute"),
    ("@fortnightly", "unknown alias"),
    ("5-1 * * * *", "you mean 1-5"),
])
def test_specs_jenkins_refuses_are_refused(spec, reason):
    with pytest.raises(CronSpecError, match=reason.replace("(", r"\(")):
        resolve(spec, "job")


def test_java_random_matches_the_jdk():
    # printed by `new java.util.Random(42)` and `new Random(-8070450532247928832L)` on JDK 17
    r = JavaRandom(42)
    assert [r.next_int(n) for n in (10, 60, 24, 28, 7, 16, 1000000007, 3)] == [0, 3, 0, 24, 5, 15, 595021505, 2]
    s = JavaRandom(-8070450532247928832)
    assert [s.next_int(2**31 - 1) for _ in range(5)] == [
        1569741360, 1785505948, 516548029, 1302116447, 1368843515]
