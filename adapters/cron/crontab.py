"""Reading crontab files, naming their entries, and rewriting single lines.

Two formats, as cron itself reads them:

- user crontab (``crontab -e``, /var/spool/cron/crontabs/NAME)::

      MAILTO=ops@example.com
      CRON_TZ=Europe/Berlin
      # unifier: name=backup
      30 2 * * *  /usr/local/bin/backup --full
      @daily      find /tmp -mtime +7 -delete

- system (/etc/crontab, /etc/cron.d/*): a user column after the schedule::

      17 * * * *  root  cd / && run-parts /etc/cron.hourly

Variable lines set the environment of the entries below them (``CRON_TZ`` also sets
the time zone their schedule is read in). In a command, the first unescaped ``%``
ends the command: the rest is its standard input, each further ``%`` a newline.

Job ids (stable across edits of the schedule): the ``# unifier: name=ID`` comment on
the line above; else the ``--job`` of a line already wrapped by ``unifier exec``; else a
readable slug of the command plus a short hash of it (and of the user, in system
format). Bad lines are kept as problems ("FILE:LINE: reason"), never raised.

Rewriting (``wrap_line``/``unwrap_line``) changes only the command part of one line;
every other byte of the file is kept (python-crontab rewrites untouched lines, so it
is not used).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from unifier.schedule import expand, problem

NAME_COMMENT_RE = re.compile(r"^\s*#\s*unifier:\s*name\s*=\s*(\S+)\s*$")
VARIABLE_RE = re.compile(r"""^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$""")
NATIVE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MACRO_RE = re.compile(r"^(\s*)(@[A-Za-z]+)(\s+)")
FIELDS_RE = re.compile(r"^(\s*)((?:\S+\s+){4}\S+)(\s+)")
USER_RE = re.compile(r"^(\S+)(\s+)")
# cron.d file names cron reads (run-parts rules): no dots, no backup files
CRON_D_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
WRAPPER_MODULE = "unifier.adapters.cron.wrapper"
URI_RE = re.compile(r"^(?P<kind>[a-z][a-z0-9+.-]*)://(?P<instance>[^/]+)/(?P<native_id>.+)$")


@dataclass
class Wrapped:
    """What ``unifier exec --job URI [--spool DIR] -- COMMAND`` in a line says."""

    job: str
    spool: str | None
    inner: str  # the command the wrapper runs (its text before any stdin part)


@dataclass
class Entry:
    """One job line of a crontab."""

    path: str
    line: int  # 1-based
    format: str  # "user" or "system"
    expression: str  # as written: "@daily", "*/5 * * * *"
    user: str | None  # system format only
    command: str  # the line's command text, verbatim (with any %stdin part)
    command_col: int  # where the command starts in the line
    env: dict[str, str]  # variable lines in effect
    timezone: str | None  # CRON_TZ in effect
    name: str | None = None  # from "# unifier: name=..."
    wrapped: Wrapped | None = None
    native_id: str = ""

    @property
    def schedule(self) -> str | None:
        """The cron expression, macros expanded; None for @reboot."""
        expanded = expand(self.expression)
        return None if expanded.lower() == "@reboot" else expanded

    @property
    def run_command(self) -> str:
        """The command the shell runs: without the unifier wrapper, without any ``%``
        stdin part, ``\\%`` unescaped as cron does."""
        if self.wrapped:
            return split_percent(self.wrapped.inner)[0]
        return split_percent(self.command)[0]

    @property
    def stdin(self) -> str | None:
        return split_percent(self.command)[1]


@dataclass
class Crontab:
    path: str
    format: str
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def detect_format(path: str, fmt: str = "auto", text: str | None = None) -> str:
    """``auto``: system format for /etc/crontab and files in a cron.d directory (or a
    copy of one); elsewhere, system format when every entry's word after the schedule
    is a user of this machine (``0 3 * * * root backup.sh``), else user format."""
    if fmt != "auto":
        return fmt
    p = os.path.normpath(path)
    if p == "/etc/crontab" or os.path.basename(os.path.dirname(p)) == "cron.d":
        return "system"
    return "system" if text is not None and _looks_system(text) else "user"


def _looks_system(text: str) -> bool:
    words = []
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or (VARIABLE_RE.match(line) and not stripped.startswith("@")):
            continue
        match = MACRO_RE.match(line) or FIELDS_RE.match(line)
        user = USER_RE.match(line[match.end():]) if match else None
        if not user:
            return False
        words.append(user.group(1))
    try:
        return bool(words) and all(pwd.getpwnam(word) for word in set(words))
    except KeyError:  # a word that is no user: a command, so user format
        return False


def read_text(path: str) -> str:
    # surrogateescape: any byte survives a read/write round trip unchanged
    return Path(path).read_bytes().decode("utf-8", "surrogateescape")


def write_text(path: str, text: str) -> None:
    Path(path).write_bytes(text.encode("utf-8", "surrogateescape"))


def expand_paths(path: str) -> list[str]:
    """A directory (like /etc/cron.d) stands for the files in it cron would read."""
    if os.path.isdir(path):
        return sorted(str(p) for p in Path(path).iterdir()
                      if p.is_file() and CRON_D_NAME_RE.match(p.name))
    return [path]


def parse(path: str, fmt: str = "auto", text: str | None = None) -> Crontab:
    """Parse one crontab file (``text`` instead of reading it, if given)."""
    text = read_text(path) if text is None else text
    fmt = detect_format(path, fmt, text)
    tab = Crontab(path=path, format=fmt)
    env: dict[str, str] = {}
    name: str | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        stripped = line.strip()
        pending, name = name, None
        if not stripped:
            continue
        if stripped.startswith("#"):
            match = NAME_COMMENT_RE.match(line)
            if match:
                name = match.group(1)
                if not NATIVE_ID_RE.match(name):
                    tab.problems.append(f"{path}:{number}: bad unifier name {name!r} "
                                        "(letters, digits, '.', '_', '-')")
                    name = None
            continue
        var = VARIABLE_RE.match(line)
        if var and not stripped.startswith("@"):
            env[var.group(1)] = _unquote(var.group(2))
            continue
        entry, reason = _parse_entry(path, number, line, fmt, env, pending)
        if entry is None:
            tab.problems.append(f"{path}:{number}: {reason}")
        else:
            tab.entries.append(entry)
    return tab


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _parse_entry(path, number, line, fmt, env, name) -> tuple[Entry | None, str | None]:
    match = MACRO_RE.match(line) or FIELDS_RE.match(line)
    if not match:
        return None, f"not a crontab entry: {line.strip()[:60]!r}"
    expression = match.group(2)
    reason = problem(expression)
    if reason:
        return None, reason
    col, user = match.end(), None
    if fmt == "system":
        umatch = USER_RE.match(line[col:])
        if not umatch:
            return None, ("entry without a command" if line[col:].strip() else
                          "missing user column (system crontab format: schedule, user, command)")
        user, col = umatch.group(1), col + umatch.end()
    command = line[col:]
    if not command.strip():
        return None, "entry without a command"
    entry = Entry(path=path, line=number, format=fmt, expression=expression, user=user,
                  command=command, command_col=col, env=dict(env),
                  timezone=env.get("CRON_TZ"), name=name)
    entry.wrapped = parse_wrapped(split_percent(command, unescape=False)[0])
    return entry, None


def split_percent(command: str, unescape: bool = True) -> tuple[str, str | None]:
    """Split a crontab command at its first unescaped ``%`` as cron does: (command,
    stdin or None). With ``unescape``, ``\\%`` becomes ``%`` and, in the stdin part,
    ``%`` a newline (what the shell and the command receive)."""
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(command):
        if escaped:
            if ch == "%" and unescape:
                out.pop()
            out.append(ch)
            escaped = False
            continue
        if ch == "%":
            rest = command[i + 1:]
            return "".join(out), (_stdin_text(rest) if unescape else rest)
        escaped = ch == "\\"
        out.append(ch)
    return "".join(out), None


def _stdin_text(rest: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in rest:
        if escaped:
            if ch != "%":
                out.append("\\")
        elif ch == "%":
            ch = "\n"
        escaped = ch == "\\"
        if not escaped:
            out.append(ch)
    if escaped:
        out.append("\\")
    text = "".join(out)
    # Debian cron ends a non-empty input with a newline (measured: "%a%b" -> "a\nb\n")
    return text + "\n" if text and not text.endswith("\n") else text


# --------------------------------------------------------------------------- job ids


def derived_id(command: str, user: str | None = None) -> str:
    """A readable slug of the command and a short hash of it (and of the user)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    words = [w for w in words if "=" not in w.split("/")[0]][:2] or ["job"]
    words[0] = os.path.basename(words[0]) or words[0]
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(words).lower()).strip("-")[:32].strip("-") or "job"
    digest = hashlib.sha256(f"{user or ''}\0{command.strip()}".encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


def assign_ids(tabs: list[Crontab]) -> list[str]:
    """Give every entry its native id; returns problems (duplicate ids)."""
    problems: list[str] = []
    seen: dict[str, str] = {}  # native id -> where it was first given
    for tab in tabs:
        for entry in tab.entries:
            if entry.name:
                native = entry.name
            elif entry.wrapped and (wrapped := URI_RE.match(entry.wrapped.job)):
                native = wrapped.group("native_id")
            else:
                native = derived_id(entry.run_command, entry.user)
            base, n = native, 1
            while native in seen:
                n += 1
                native = f"{base}-{n}"
            if n > 1:
                problems.append(f"{entry.path}:{entry.line}: job id {base!r} already used at "
                                f"{seen[base]}; this entry is {native!r} (name it with "
                                "'# unifier: name=...' to keep it stable)")
            seen[native] = f"{entry.path}:{entry.line}"
            entry.native_id = native
    return problems


# --------------------------------------------------------------------------- the wrapper in a line


def parse_wrapped(command: str) -> Wrapped | None:
    """The wrapper's arguments if ``command`` is ``[PATH/]unifier exec ... -- CMD`` (or
    ``python -m unifier.adapters.cron.wrapper ... -- CMD``), else None."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if len(words) >= 2 and os.path.basename(words[0]) == "unifier" and words[1] == "exec":
        args = words[2:]
    elif len(words) >= 3 and words[1:3] == ["-m", WRAPPER_MODULE]:
        args = words[3:]
    else:
        return None
    if "--" not in args:
        return None
    options, inner = args[:args.index("--")], args[args.index("--") + 1:]
    values: dict[str, str] = {}
    i = 0
    while i < len(options):
        opt = options[i]
        if "=" in opt and opt.startswith("--"):
            key, _, value = opt.partition("=")
            values[key] = value
        elif i + 1 < len(options):
            values[opt] = options[i + 1]
            i += 1
        i += 1
    if "--job" not in values or not inner:
        return None
    text = inner[0] if len(inner) == 1 else shlex.join(inner)
    return Wrapped(job=values["--job"], spool=values.get("--spool"), inner=text)


def _quote_for_cron(text: str) -> str:
    """Single-quote for the shell. Backslashes stay paired with what follows them, so
    cron's own ``\\%`` handling sees the same text inside the quotes as outside."""
    return "'" + text.replace("'", "'\\''") + "'"


def wrap_command(command: str, job_uri: str, executable: str = "unifier",
                 spool: str | None = None) -> str:
    """``CMD%stdin`` -> ``unifier exec --job URI -- 'CMD'%stdin``."""
    head, rest = split_percent(command, unescape=False)
    words = [executable, "exec", "--job", job_uri] + (["--spool", spool] if spool else [])
    wrapped = " ".join(shlex.quote(w) for w in words) + " -- " + _quote_for_cron(head)
    return wrapped + ("%" + rest if rest is not None else "")


def unwrap_command(command: str) -> str | None:
    """The inverse of :func:`wrap_command`; None if the command is not wrapped."""
    head, rest = split_percent(command, unescape=False)
    wrapped = parse_wrapped(head)
    if wrapped is None:
        return None
    return wrapped.inner + ("%" + rest if rest is not None else "")


def replace_command(text: str, entry: Entry, new_command: str) -> str:
    """``text`` with only the command part of ``entry``'s line replaced."""
    lines = text.split("\n")
    line = lines[entry.line - 1]
    cr = "\r" if line.endswith("\r") else ""
    lines[entry.line - 1] = line[:entry.command_col] + new_command + cr
    return "\n".join(lines)
