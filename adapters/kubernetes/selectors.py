"""Kubernetes label selectors, parsed and matched here as the API server does.

The adapter sends a selector to the server (less traffic on a real cluster) and also
matches it itself, because it watches every Job of a namespace in one stream (the Jobs
CronJobs own carry no common label) and because test stand-ins ignore selectors.

Grammar (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/):
requirements separated by commas, all of which must hold::

    key=value  key==value  key!=value  key in (a,b)  key notin (a,b)  key  !key
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# A qualified label key: an optional DNS-subdomain prefix and a name of <= 63 characters.
_KEY = r"(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_CMP = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "in", "notin", "exists", "!exists" ("=" and "!=" become in/notin of one value)
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values  # notin


@dataclass(frozen=True)
class Selector:
    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)


def _split(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def parse(text: str) -> Selector:
    """Parse a label selector; ValueError names the requirement that is wrong."""
    requirements: list[Requirement] = []
    if not text.strip():
        return Selector(text, ())
    for part in _split(text):
        if m := _SET.match(part):
            values = [v.strip() for v in m["values"].split(",")]
            if not all(_VALUE_RE.match(v) for v in values):
                raise ValueError(f"bad label value in selector requirement {part.strip()!r}")
            requirements.append(Requirement(m["key"], m["op"], frozenset(values)))
        elif m := _CMP.match(part):
            op = "notin" if m["op"] == "!=" else "in"
            requirements.append(Requirement(m["key"], op, frozenset([m["value"]])))
        elif m := _EXISTS.match(part):
            requirements.append(Requirement(m["key"], "!exists" if m["neg"] else "exists"))
        else:
            raise ValueError(
                f"bad label selector requirement {part.strip()!r} in {text!r} (expected "
                "key=value, key!=value, key in (a,b), key notin (a,b), key or !key)"
            )
    return Selector(text, tuple(requirements))


def validate(text: str | None) -> str | None:
    """Pydantic validator: refuse a selector the API server would refuse."""
    if text is not None:
        parse(text)
    return text
