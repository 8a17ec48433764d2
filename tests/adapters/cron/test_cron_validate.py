"""`unifier validate` and `apply` refuse a cron instance whose crontabs cron would
reject, naming the crontab's own file and line."""

from __future__ import annotations

import textwrap

from tests.cli_helpers import run_cli

CONFIG = """\
apiVersion: unifier/v1
kind: Instance
metadata: {name: hosts}
spec:
  adapter: cron
  config:
    crontabs: [./crontab, {path: ./cron.d, format: system}]
"""


def setup(tmp_path, crontab: str, system: str = "0 3 * * * root echo ok\n"):
    (tmp_path / "crontab").write_text(textwrap.dedent(crontab))
    (tmp_path / "cron.d").mkdir()
    (tmp_path / "cron.d" / "reports").write_text(system)
    config = tmp_path / "unifier.yaml"
    config.write_text(CONFIG)
    return config


def test_good_crontabs_validate(tmp_path):
    config = setup(tmp_path, "CRON_TZ=Europe/Berlin\n@daily echo hi\n*/5 * * * * echo ok\n")
    assert run_cli("validate", "-f", str(config)).exit_code == 0


def test_bad_schedule_bad_zone_and_missing_user_are_refused_where_they_are(tmp_path):
    config = setup(tmp_path, """\
        * * * * * echo ok
        61 * * * * echo bad minute
        CRON_TZ=Mars/Olympus
        0 1 * * * echo bad zone
        """, system="0 3 * * * \n")
    result = run_cli("apply", "-f", str(config))
    assert result.exit_code == 2
    crontab, system = tmp_path / "crontab", tmp_path / "cron.d" / "reports"
    assert f"{crontab}:2: bad cron expression '61 * * * *'" in result.stderr
    assert f"{crontab}:4: CRON_TZ: unknown time zone 'Mars/Olympus'" in result.stderr
    assert f"{system}:1: " in result.stderr
    assert "nothing was applied" in result.stderr
    assert run_cli("instances", "-o", "json").stdout.strip() == "[]"


def test_missing_crontab_is_refused_at_the_yaml_line(tmp_path):
    config = setup(tmp_path, "* * * * * echo ok\n")
    (tmp_path / "crontab").unlink()
    result = run_cli("validate", "-f", str(config))
    assert result.exit_code == 2
    assert f"{config}:7: cannot read crontab {tmp_path / 'crontab'}" in result.stderr


def test_auto_format_recognises_a_system_crontab_anywhere(tmp_path):
    from unifier.adapters.cron import crontab

    system = tmp_path / "etc-style"
    system.write_text("SHELL=/bin/sh\n15 3 * * 1-5   root   echo report\n@daily root echo daily\n")
    tab = crontab.parse(str(system))
    assert tab.format == "system" and [e.user for e in tab.entries] == ["root", "root"]
    user = tmp_path / "mine"
    user.write_text("* * * * * echo hello\n15 3 * * * root-cleanup.sh\n")
    assert crontab.parse(str(user)).format == "user"
