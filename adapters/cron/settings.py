"""Settings of a cron instance (``spec.config`` of an ``adapter: cron`` Instance).

    spec:
      adapter: cron
      config:
        crontabs:
          - ./crontab                                  # user format (no user column)
          - {path: /etc/cron.d, format: system}        # a directory: every file cron reads in it
        spool: /var/lib/unifier/spool/cron/hosts       # optional
        host: web-1                                    # optional label

Relative paths are resolved against the YAML file's directory by the configuration
loader. Crontab files are only ever read by the adapter; ``unifier cron wrap`` is the
one command that edits them, and only when asked.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from unifier.config.paths import ConfigPath

Format = Literal["auto", "user", "system"]


class CrontabSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: ConfigPath = Field(description="A crontab file, or a directory such as /etc/cron.d.")
    format: Format = Field(
        default="auto",
        description=(
            "user: `SCHEDULE COMMAND` lines (crontab -e); system: `SCHEDULE USER COMMAND` "
            "lines (/etc/crontab, /etc/cron.d); auto: system for /etc/crontab and for files "
            "in a directory named cron.d, and wherever every entry names a user of this "
            "machine after its schedule; user elsewhere."
        ),
    )


# A plain path or a {path, format} mapping; the discriminator keeps error messages to
# the form the user wrote.
CrontabItem = Annotated[
    Annotated[ConfigPath, Tag("path")] | Annotated[CrontabSource, Tag("file")],
    Discriminator(lambda value: "path" if isinstance(value, str) else "file"),
]


class CronSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    crontabs: list[CrontabItem] = Field(
        min_length=1,
        description=(
            "Crontab files (or directories of them) whose entries are the jobs; each item "
            "is a path (format auto) or {path, format}."
        ),
    )
    spool: ConfigPath | None = Field(
        default=None,
        description=(
            "Directory where `unifier exec` records runs. Default: "
            "$UNIFIER_HOME/spool/cron/<instance> (the wrapper's own default too)."
        ),
    )
    host: str | None = Field(
        default=None,
        description="A label for the machine these crontabs run on (shown with each job).",
    )

    def sources(self) -> list[CrontabSource]:
        return [item if isinstance(item, CrontabSource) else CrontabSource(path=item)
                for item in self.crontabs]

    def config_problems(self) -> list[tuple[str | tuple[str, ...], int | None, str]]:
        """What ``unifier validate`` and ``apply`` refuse beyond the YAML itself: a crontab
        that cannot be read, and lines cron would reject (a bad schedule, a missing user
        column, an unknown CRON_TZ), each located in the crontab file itself."""
        from unifier.adapters.cron import crontab
        from unifier.schedule import zone

        found: list[tuple[str | tuple[str, ...], int | None, str]] = []
        for source in self.sources():
            if "${" in source.path:  # resolved at use; checked by the secret check
                continue
            for path in crontab.expand_paths(source.path):
                try:
                    tab = crontab.parse(path, source.format)
                except OSError as exc:
                    found.append((("crontabs",), None, f"cannot read crontab {path}: {exc.strerror}"))
                    continue
                for text in tab.problems:
                    match = _LOCATED.match(text)
                    found.append((match[1], int(match[2]), match[3]) if match else (path, None, text))
                for entry in tab.entries:
                    try:
                        zone(entry.timezone)
                    except ValueError as exc:
                        found.append((path, entry.line, f"CRON_TZ: {exc}"))
        return found


_LOCATED = re.compile(r"^(.*):(\d+): (.*)$", re.S)
