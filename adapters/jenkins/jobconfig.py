"""What a job's configuration says: parameter definitions (from the JSON API) and the timer
spec (from ``config.xml``, which the JSON API does not expose), with the cache key that
decides when config.xml is read again.

Jenkins serves config.xml with no ETag or Last-Modified, and no field of the JSON API
changes when only the timer spec is edited. The key is therefore a digest of every
configuration-derived field the discovery tree returns (class, display name, description,
enabled/buildable, parameter definitions) plus, for Pipeline jobs, the last build number:
a Jenkinsfile's ``properties([pipelineTriggers(...)])`` step rewrites config.xml when a
build runs. An edit the API cannot show (a timer spec changed alone in the UI of a
freestyle job) is caught by the age limit (``config_max_age``).

The key, the time config.xml was read and what it said travel in the job's ``extra``
(:func:`CachedConfig.as_extra`), so the catalog keeps them: a new process (a one-shot
``unifier sync`` from cron or CI) starts from what the last discovery read instead of
reading every job's config.xml again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from unifier.adapters.jenkins.builds import PIPELINE_CLASS, Node
from unifier.adapters.jenkins.client import JenkinsClient, JenkinsHTTPError, job_path
from unifier.errors import NotFound
from unifier.model import Job, utcnow

# config.xml reads in flight at once during discovery
_CONCURRENCY = 4


@dataclass
class CachedConfig:
    """What one read of a job's config.xml found, and the key it was read under."""

    key: str
    fetched: datetime  # wall clock (UTC): it outlives the process, in the catalog
    spec: str | None
    error: str | None = None

    def as_extra(self) -> dict[str, Any]:
        """The job ``extra`` fields that store this entry (``timer_spec`` is user-facing too)."""
        stored: dict[str, Any] = {"config_key": self.key, "config_read_at": self.fetched.isoformat()}
        if self.spec:
            stored["timer_spec"] = self.spec
        if self.error:
            stored["config_error"] = self.error
        return stored

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> CachedConfig | None:
        """The entry a stored job carries, or None (stored before keys were kept, or damaged)."""
        key, read_at = extra.get("config_key"), extra.get("config_read_at")
        if not isinstance(key, str) or not isinstance(read_at, str):
            return None
        try:
            fetched = datetime.fromisoformat(read_at)
        except ValueError:
            return None
        if fetched.tzinfo is None:
            return None
        return cls(key, fetched, extra.get("timer_spec"), extra.get("config_error"))


class ConfigCache:
    """What config.xml said, per job full name, for one controller. Seeded from the
    catalog (:meth:`remember`); read again for a job whose key changed or whose entry
    is older than ``max_age`` seconds."""

    def __init__(self, client: JenkinsClient, max_age: float):
        self.client = client
        self.max_age = timedelta(seconds=max_age)
        self._entries: dict[str, CachedConfig] = {}

    def remember(self, jobs: Sequence[Job]) -> None:
        """Entries the stored jobs carry, for jobs this process has not read itself."""
        for job in jobs:
            entry = CachedConfig.from_extra(job.extra or {})
            if entry is not None and job.native_id not in self._entries:
                self._entries[job.native_id] = entry

    async def read_all(self, nodes: list[Node]) -> list[CachedConfig]:
        """One entry per node, in order; jobs gone from the tree are forgotten."""
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def one(node: Node) -> CachedConfig:
            async with limit:
                return await self._read(node)

        entries = await asyncio.gather(*(one(n) for n in nodes))
        known = {n.full_name for n in nodes}
        self._entries = {name: e for name, e in self._entries.items() if name in known}
        return list(entries)

    async def _read(self, node: Node) -> CachedConfig:
        key = config_key(node)
        cached = self._entries.get(node.full_name)
        if cached and cached.key == key and utcnow() - cached.fetched < self.max_age:
            return cached
        try:
            text = await asyncio.to_thread(self.client.get_text, job_path(node.full_name) + "config.xml")
            entry = CachedConfig(key, utcnow(), timer_spec_of(text))
        except NotFound:
            entry = CachedConfig(key, utcnow(), None, "config.xml not found")
        except JenkinsHTTPError as exc:
            if exc.status != 403:
                raise
            # reading config.xml needs Item/ExtendedRead: without it the job has no forecast
            entry = CachedConfig(key, utcnow(), None, "no permission to read config.xml")
        except ET.ParseError as exc:
            entry = CachedConfig(key, utcnow(), None, f"config.xml is not XML: {exc}")
        self._entries[node.full_name] = entry
        return entry


def config_key(node: Node) -> str:
    data = node.data
    facts = {k: data.get(k) for k in ("_class", "displayName", "description", "buildable",
                                       "disabled", "property")}
    facts["disabled_color"] = data.get("color") == "disabled"
    if data.get("_class") == PIPELINE_CLASS:
        facts["last_build"] = (data.get("lastBuild") or {}).get("number")
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def parameter_definitions(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for prop in job.get("property") or []:
        for d in (prop or {}).get("parameterDefinitions") or []:
            if isinstance(d, dict) and d.get("name"):
                default = (d.get("defaultParameterValue") or {}).get("value")
                found.append({k: v for k, v in {
                    "name": d["name"], "type": d.get("type"), "description": d.get("description") or None,
                    "default": default, "choices": d.get("choices"),
                }.items() if v is not None})
    return found


def timer_spec_of(config_xml: str) -> str | None:
    """The ``<spec>`` of the job's ``hudson.triggers.TimerTrigger`` (freestyle jobs keep it
    under ``<triggers>``, Pipeline jobs under ``PipelineTriggersJobProperty``)."""
    # Jenkins writes `<?xml version='1.1'...?>`, which expat refuses: drop the declaration
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", config_xml)
    root = ET.fromstring(text)
    for trigger in root.iter("hudson.triggers.TimerTrigger"):
        spec = trigger.findtext("spec")
        if spec and spec.strip():
            return spec.strip()
    return None
