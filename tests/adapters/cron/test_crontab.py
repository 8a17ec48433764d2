"""Reading crontab files as cron does, and job ids that survive schedule edits."""

from datetime import UTC, datetime

from unifier.adapters.cron import crontab
from unifier.model import RunState
from unifier.schedule import next_runs

USER_TAB = """\
# a user crontab: variables, comments, macros, % input
MAILTO=ops@example.com
PATH = /usr/local/bin:/usr/bin:/bin
GREETING="hello world"

CRON_TZ=Europe/Berlin
# unifier: name=backup
30 2 * * *   /usr/local/bin/backup --full > /dev/null 2>&1
@daily       find /tmp -mtime +7 -delete
*/15 9-17 * * mon-fri  mail -s report ops%Dear ops,%%the report\\%done.%
@reboot      /usr/local/bin/warm-cache
this is not an entry
61 * * * *   echo bad minute
* * * * *
"""

SYSTEM_TAB = """\
SHELL=/bin/bash
17 *  * * *  root   cd / && run-parts --report /etc/cron.hourly
@weekly      backup /usr/local/bin/rotate
5 4 * * *    nobody
"""


def parse(text, fmt="user", path="/srv/crontab"):
    tab = crontab.parse(path, fmt, text=text)
    problems = crontab.assign_ids([tab])
    return tab, problems


def test_user_format_entries_variables_and_macros():
    tab, _ = parse(USER_TAB)
    entries = {e.line: e for e in tab.entries}
    assert sorted(entries) == [8, 9, 10, 11]
    backup = entries[8]
    assert backup.native_id == "backup"
    assert backup.schedule == "30 2 * * *" and backup.timezone == "Europe/Berlin"
    assert backup.user is None
    assert backup.run_command == "/usr/local/bin/backup --full > /dev/null 2>&1"
    assert backup.env["MAILTO"] == "ops@example.com"
    assert backup.env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert backup.env["GREETING"] == "hello world"  # quotes removed as cron does
    daily = entries[9]
    assert daily.expression == "@daily" and daily.schedule == "0 0 * * *"
    assert entries[11].schedule is None  # @reboot: a job without a schedule
    assert entries[10].schedule == "*/15 9-17 * * mon-fri"


def test_percent_ends_the_command_and_becomes_stdin():
    tab, _ = parse(USER_TAB)
    mail = next(e for e in tab.entries if e.line == 10)
    assert mail.run_command == "mail -s report ops"
    # each further % is a newline; \% is a literal %; a final newline is added (as Debian cron does)
    assert mail.stdin == "Dear ops,\n\nthe report%done.\n"
    assert crontab.split_percent(r"date +\%Y") == ("date +%Y", None)


def test_bad_lines_are_problems_not_crashes():
    tab, _ = parse(USER_TAB)
    assert tab.problems == [
        "/srv/crontab:12: not a crontab entry: 'this is not an entry'",
        "/srv/crontab:13: bad cron expression '61 * * * *'",
        "/srv/crontab:14: not a crontab entry: '* * * * *'",
    ]


def test_system_format_has_a_user_column():
    tab, _ = parse(SYSTEM_TAB, fmt="auto", path="/etc/cron.d/jobs")
    assert tab.format == "system"
    first, weekly = tab.entries
    assert (first.user, first.run_command) == ("root", "cd / && run-parts --report /etc/cron.hourly")
    assert (weekly.user, weekly.schedule, weekly.run_command) == ("backup", "0 0 * * 0", "/usr/local/bin/rotate")
    assert first.env == {"SHELL": "/bin/bash"}
    assert tab.problems == ["/etc/cron.d/jobs:4: entry without a command"]
    assert crontab.detect_format("/etc/crontab") == "system"
    assert crontab.detect_format("/home/me/crontab") == "user"


def test_ids_are_stable_across_schedule_edits():
    before, _ = parse(USER_TAB)
    edited = USER_TAB.replace("30 2 * * *", "45 3 * * 1").replace("@daily", "0 6 * * *")
    edited = edited.replace("CRON_TZ=Europe/Berlin", "CRON_TZ=UTC")
    after, _ = parse(edited)
    assert [e.native_id for e in before.entries] == [e.native_id for e in after.entries]
    assert after.entries[0].schedule == "45 3 * * 1"
    # a derived id: a readable slug and a hash of the command
    assert after.entries[1].native_id.startswith("find-tmp-")


def test_the_command_names_the_job_and_the_user_counts_in_system_format():
    a, _ = parse("* * * * * echo one\n")
    b, _ = parse("* * * * * echo two\n")
    assert a.entries[0].native_id != b.entries[0].native_id
    root, _ = parse("* * * * * root echo one\n", fmt="system")
    www, _ = parse("* * * * * www echo one\n", fmt="system")
    assert root.entries[0].native_id != www.entries[0].native_id


def test_duplicate_commands_get_distinct_ids_and_a_problem():
    tab, problems = parse("* * * * * echo same\n0 1 * * * echo same\n")
    first, second = (e.native_id for e in tab.entries)
    assert second == first + "-2"
    assert len(problems) == 1 and "/srv/crontab:2" in problems[0]


def test_a_wrapped_line_keeps_the_id_of_its_job_option():
    tab, _ = parse("0 5 * * * /opt/u/bin/unifier exec --job cron://hosts/nightly -- 'tar czf /b.tgz /etc'%x\n")
    entry = tab.entries[0]
    assert entry.native_id == "nightly"
    assert entry.wrapped.job == "cron://hosts/nightly"
    assert entry.run_command == "tar czf /b.tgz /etc" and entry.stdin == "x\n"


def test_wrapping_keeps_the_derived_id():
    tab, _ = parse("*/5 * * * * du -sh /var | logger\n")
    entry = tab.entries[0]
    wrapped_cmd = crontab.wrap_command(entry.command, f"cron://hosts/{entry.native_id}", "unifier")
    again, _ = parse(crontab.replace_command("*/5 * * * * du -sh /var | logger\n", entry, wrapped_cmd))
    assert again.entries[0].native_id == entry.native_id
    assert again.entries[0].run_command == "du -sh /var | logger"


def test_bad_unifier_name_is_reported():
    tab, _ = parse("# unifier: name=no/slashes\n* * * * * true\n")
    assert "bad unifier name" in tab.problems[0]
    assert tab.entries[0].native_id.startswith("true-")


def test_next_runs_in_the_crontab_time_zone_once_through_the_dst_change():
    tab, _ = parse("CRON_TZ=Europe/Berlin\n30 2 * * * /usr/local/bin/backup\n")
    entry = tab.entries[0]
    after = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    runs = next_runs(entry.schedule, entry.timezone, after=after, limit=3)
    # 25 Oct 2026: Berlin's 02:30 happens twice (CEST, then CET); cron runs it once
    assert runs == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),  # 02:30 CET
        datetime(2026, 10, 27, 1, 30, tzinfo=UTC),
    ]


async def test_discover_builds_jobs_with_schedule_zone_and_next_run(make_adapter):
    adapter = make_adapter(USER_TAB, SYSTEM_TAB, formats=["user", "system"])
    jobs = {job.native_id: job for job in await adapter.discover()}
    backup = jobs["backup"]
    assert backup.uri == "cron://hosts/backup"
    assert (backup.schedule, backup.timezone) == ("30 2 * * *", "Europe/Berlin")
    assert backup.next_run_at is not None and backup.next_run_at > datetime.now(UTC)
    assert backup.extra["line"] == 8 and backup.extra["wrapped"] is False
    reboot = next(j for j in jobs.values() if j.extra["at_reboot"])
    assert reboot.schedule is None and reboot.next_run_at is None
    rotate = next(j for j in jobs.values() if j.description == "/usr/local/bin/rotate")
    assert rotate.owner == "backup" and rotate.schedule == "0 0 * * 0"
    health = await adapter.health()
    assert health.ok and len(health.details["problems"]) == 4


async def test_a_missing_crontab_is_tool_unavailable(make_adapter, tmp_path):
    import pytest

    from unifier.errors import ToolUnavailable

    adapter = make_adapter("* * * * * true\n")
    (tmp_path / "crontab0").unlink()
    with pytest.raises(ToolUnavailable, match="crontab0"):
        await adapter.discover()
    assert not (await adapter.health()).ok


def test_state_map_covers_every_native_state_of_the_spool(make_adapter):
    adapter = make_adapter("* * * * * true\n")
    assert adapter.state_map["lost"] == RunState.FAILED
    assert adapter.state_map["killed"] == RunState.FAILED
    assert adapter.state_map["cancelled"] == RunState.CANCELLED
