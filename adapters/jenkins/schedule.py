"""Jenkins timer specs (``H/15 * * * *``) and the next runs they produce.

Jenkins' cron dialect differs from Vixie cron in ways that change the answer:

* ``H`` picks a value from a hash of the job's *full name* (``folder/sub/job``), so every
  job with ``H * * * *`` runs at its own minute. The hash is ``hudson.scheduler.Hash.from``:
  MD5 of the UTF-8 name, the 16 digest bytes folded to 8 (byte ``i`` XOR-ed into byte
  ``i % 8``), read big-endian as a ``long`` that seeds a ``java.util.Random``. One Random
  serves the whole spec (every line, every field, left to right), so the second ``H`` of
  a spec depends on the first: :class:`JavaRandom` reproduces the JDK's generator bit for bit.
* ``H`` without a range draws from the field's bounds, except day-of-month (1-28, so it
  exists in every month) and day-of-week (0-6). ``H(a-b)`` draws from ``a-b``; ``H/n`` and
  ``H(a-b)/n`` draw an offset in ``[0, n)`` then step by ``n`` (``hudson.scheduler.BaseParser``).
* ``@yearly``/``@annually`` = ``H H H H *``, ``@monthly`` = ``H H H * *``, ``@weekly`` =
  ``H H * * H``, ``@daily`` = ``H H * * *``, ``@midnight`` = ``H H(0-2) * * *``, ``@hourly``
  = ``H * * * *`` (``CrontabParser.g4``), hashed with the same Random.
* A first line ``TZ=Europe/Paris`` sets the zone of every line; otherwise the controller's
  own zone applies, which the API does not reveal (hence the instance setting ``timezone``).
  Blank lines and ``#`` comments are skipped; fields are numbers only (no ``MON``/``JAN``).
* Day of month and day of week must *both* match (``CronTab.check``), where Vixie cron
  runs when either does: croniter is therefore driven with ``day_or=False``.

After hashing, each line is a plain 5-field expression of explicit values, and croniter
computes next runs from it. Sources read: jenkinsci/jenkins ``core/src/main/java/hudson/
scheduler/{Hash,BaseParser,CronTab,CronTabList}.java`` and ``core/src/main/antlr4/hudson/
scheduler/Crontab{Lexer,Parser}.g4``; the fixtures that check this module are described in
``tests/adapters/jenkins/fixtures/README.md``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

# field order: minute, hour, day of month, month, day of week (BaseParser bounds)
LOWER = (0, 0, 1, 1, 0)
UPPER = (59, 23, 31, 12, 7)
# what a bare H may pick: day of month stops at 28, day of week at 6 (BaseParser.doHash)
HASH_UPPER = (59, 23, 28, 12, 6)

ALIASES = {
    "yearly": "H H H H *",
    "annually": "H H H H *",
    "monthly": "H H H * *",
    "weekly": "H H * * H",
    "daily": "H H * * *",
    "midnight": "H H(0-2) * * *",
    "hourly": "H * * * *",
}


class CronSpecError(ValueError):
    """A timer spec Jenkins itself would refuse."""


class JavaRandom:
    """``java.util.Random``: the 48-bit linear congruential generator of the JDK."""

    _MULTIPLIER = 0x5DEECE66D
    _ADDEND = 0xB
    _MASK = (1 << 48) - 1

    def __init__(self, seed: int):
        self._seed = (seed ^ self._MULTIPLIER) & self._MASK

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * self._MULTIPLIER + self._ADDEND) & self._MASK
        value = self._seed >> (48 - bits)
        return value - (1 << 32) if value & (1 << 31) else value  # Java int

    def next_int(self, bound: int) -> int:
        """``Random.nextInt(bound)``, including its rejection of biased draws."""
        if bound <= 0:
            raise ValueError("bound must be positive")
        r = self._next(31)
        m = bound - 1
        if bound & m == 0:  # a power of two: take the high bits
            return (bound * r) >> 31
        u = r
        while True:
            r = u % bound
            # Java retries when `u - r + m` overflows a signed int
            if u - r + m <= 0x7FFFFFFF:
                return r
            u = self._next(31)


class JenkinsHash:
    """``hudson.scheduler.Hash.from(seed)``: a stable Random per job full name."""

    def __init__(self, seed: str):
        digest = bytearray(hashlib.md5(seed.encode("utf-8")).digest())  # noqa: S324 - Jenkins' choice
        for i in range(8, len(digest)):
            digest[i % 8] ^= digest[i]
        self._random = JavaRandom(int.from_bytes(digest[:8], "big"))

    def next(self, n: int) -> int:
        """A value in ``[0, n)``."""
        return self._random.next_int(n)


_TERM = re.compile(
    r"^(?:"
    r"(?P<star>\*)(?:/(?P<star_step>\d+))?"
    r"|H\((?P<h_start>\d+)-(?P<h_end>\d+)\)(?:/(?P<hr_step>\d+))?"
    r"|H(?:/(?P<h_step>\d+))?"
    r"|(?P<start>\d+)-(?P<end>\d+)(?:/(?P<range_step>\d+))?"
    r"|(?P<single>\d+)"
    r")$"
)
_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")


def _check(value: int, field: int) -> None:
    if not LOWER[field] <= value <= UPPER[field]:
        raise CronSpecError(
            f"{value} is an invalid value for {_FIELD_NAMES[field]}: must be within "
            f"{LOWER[field]} and {UPPER[field]}"
        )


def _range(start: int, end: int, step: int, field: int) -> set[int]:
    _check(start, field)
    _check(end, field)
    if step <= 0:
        raise CronSpecError(f"step must be positive, but found {step}")
    if start > end:
        raise CronSpecError(f"you mean {end}-{start}?")
    return set(range(start, end + 1, step))


def _hash(start: int, end: int, step: int | None, field: int, hash_: JenkinsHash) -> set[int]:
    _check(start, field)
    _check(end, field)
    if step is None:  # a bare H picks one value
        return {start + hash_.next(end + 1 - start)}
    if step <= 0:
        raise CronSpecError(f"step must be positive, but found {step}")
    if step > end - start + 1:
        raise CronSpecError(f"{step} is an invalid value: must be within 1 and {end - start + 1}")
    if step == 1:  # "H/1": Jenkins treats an explicit step of 1 like no step
        return {start + hash_.next(end + 1 - start)}
    return set(range(hash_.next(step) + start, end + 1, step))


def _field(text: str, field: int, hash_: JenkinsHash) -> set[int]:
    values: set[int] = set()
    for term in text.split(","):  # terms are evaluated left to right, as the grammar does
        match = _TERM.match(term)
        if not match:
            raise CronSpecError(f"cannot parse {term!r} in the {_FIELD_NAMES[field]} field")
        g = match.groupdict()
        if g["star"]:
            values |= _range(LOWER[field], UPPER[field], int(g["star_step"] or 1), field)
        elif g["h_start"] is not None:
            step = g["hr_step"]
            values |= _hash(int(g["h_start"]), int(g["h_end"]), int(step) if step else None, field, hash_)
        elif g["start"] is not None:
            values |= _range(int(g["start"]), int(g["end"]), int(g["range_step"] or 1), field)
        elif g["single"] is not None:
            _check(int(g["single"]), field)
            values.add(int(g["single"]))
        else:  # bare H or H/n
            step = g["h_step"]
            values |= _hash(LOWER[field], HASH_UPPER[field], int(step) if step else None, field, hash_)
    return values


def _render(values: set[int], field: int) -> str:
    if field == 4 and 7 in values:  # both 0 and 7 are Sunday (CronTab.set)
        values = (values - {7}) | {0}
    full = set(range(LOWER[field], (6 if field == 4 else UPPER[field]) + 1))
    if values == full:
        return "*"
    return ",".join(str(v) for v in sorted(values))


@dataclass(frozen=True)
class TimerSpec:
    """A Jenkins timer spec resolved for one job: standard cron lines and their zone."""

    spec: str
    job: str
    lines: tuple[str, ...]  # 5-field expressions of explicit values, H already substituted
    timezone: str

    def next_runs(self, after: datetime, count: int = 1) -> list[datetime]:
        """The next ``count`` firing times strictly after ``after``, in UTC."""
        if not self.lines:
            return []
        zone = ZoneInfo(self.timezone)
        start = after if after.tzinfo else after.replace(tzinfo=UTC)
        iterators = [croniter(line, start.astimezone(zone), day_or=False) for line in self.lines]
        pending = [it.get_next(datetime) for it in iterators]
        runs: list[datetime] = []
        while len(runs) < count:
            soonest = min(pending)
            runs.append(soonest.astimezone(UTC))
            for i, value in enumerate(pending):  # two lines may name the same minute
                if value == soonest:
                    pending[i] = iterators[i].get_next(datetime)
        return runs


def resolve(spec: str, job_full_name: str, default_timezone: str = "UTC") -> TimerSpec:
    """Substitute every ``H`` of ``spec`` as Jenkins does for the job ``job_full_name``."""
    hash_ = JenkinsHash(job_full_name)
    zone = default_timezone
    lines: list[str] = []
    for number, raw in enumerate(re.split(r"\r?\n", spec), start=1):
        line = raw.strip()
        if number == 1 and line.startswith("TZ="):
            zone = line[len("TZ="):]
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise CronSpecError(f"Invalid or unsupported timezone {zone!r}") from None
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            alias = ALIASES.get(line[1:])
            if alias is None:
                raise CronSpecError(f"line {number}: unknown alias {line!r}")
            line = alias
        fields = line.split()
        if len(fields) != 5:
            raise CronSpecError(f"line {number}: expected 5 fields, found {len(fields)} in {line!r}")
        try:
            rendered = [_render(_field(text, i, hash_), i) for i, text in enumerate(fields)]
        except CronSpecError as exc:
            raise CronSpecError(f"line {number} ({line!r}): {exc}") from None
        lines.append(" ".join(rendered))
    return TimerSpec(spec=spec, job=job_full_name, lines=tuple(lines), timezone=zone)
