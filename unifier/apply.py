"""Applying validated configuration to the catalog, kubectl style.

Each document kind has an :class:`Applier` that knows how its objects are stored;
:func:`plan_apply` computes what would change without writing, :func:`apply` writes it
and audits every change. The kinds, and so their appliers and the order they are
applied in, are listed in :mod:`unifier.kinds`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unifier.catalog import Catalog
from unifier.config.documents import InstanceDocument
from unifier.kinds import BUILTIN_KINDS

if TYPE_CHECKING:
    from unifier.config.loader import ConfigSet, Loaded

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    action: str  # created | configured | unchanged | deleted
    source: str | None = None

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name} {self.action}"


@dataclass(frozen=True)
class Applier:
    """How one kind of document is kept in the catalog."""

    kind: str
    existing: Callable[[Catalog], dict[str, str]]  # name -> spec hash
    put: Callable[[Catalog, Loaded], str]  # returns created | configured | unchanged
    delete: Callable[[Catalog, str], None]


def _put_instance(catalog: Catalog, item: Loaded) -> str:
    assert isinstance(item.model, InstanceDocument)  # the loader validated it as one
    return catalog.put_instance(item.name, item.model.spec.adapter, item.stored_spec(),
                                item.spec_hash(), item.location)


INSTANCE_APPLIER = Applier(
    kind="Instance",
    existing=lambda catalog: {s.instance.name: s.spec_hash for s in catalog.list_instances()},
    put=_put_instance,
    delete=Catalog.delete_instance,
)


def _appliers() -> list[Applier]:
    """Every kind's applier, in the order the kinds are listed (a kind after those it names)."""
    return [kind.applier for kind in BUILTIN_KINDS]


def plan_apply(catalog: Catalog, config: ConfigSet, *, prune: bool = False) -> list[Change]:
    changes: list[Change] = []
    for applier in _appliers():
        kind = applier.kind
        existing = applier.existing(catalog)
        named = set()
        for item in config.of_kind(kind):
            named.add(item.name)
            if item.name not in existing:
                action = "created"
            elif existing[item.name] != item.spec_hash():
                action = "configured"
            else:
                action = "unchanged"
            changes.append(Change(kind, item.name, action, item.location))
        if prune:
            changes += [Change(kind, name, "deleted") for name in sorted(set(existing) - named)]
    return changes


def apply(catalog: Catalog, config: ConfigSet, *, prune: bool = False, actor: str | None = None,
          source: str | None = None) -> list[Change]:
    """Write ``config`` to the catalog; objects are applied in the order their kinds are
    listed (instances before the triggers that name their jobs), pruned in reverse."""
    changes: list[Change] = []
    appliers = _appliers()
    for applier in appliers:
        kind = applier.kind
        for item in config.of_kind(kind):
            action = applier.put(catalog, item)
            changes.append(Change(kind, item.name, action, item.location))
            if action != "unchanged":
                logger.info("%s/%s %s from %s", kind.lower(), item.name, action, item.location)
                catalog.audit(f"apply.{action}", f"{kind.lower()}/{item.name}", {"source": item.location},
                              actor=actor, source=source)
    if prune:
        named = {(d.kind, d.name) for d in config.documents}
        for applier in reversed(appliers):
            kind = applier.kind
            for name in sorted(applier.existing(catalog)):
                if (kind, name) not in named:
                    applier.delete(catalog, name)
                    logger.info("%s/%s deleted (no longer in the files)", kind.lower(), name)
                    changes.append(Change(kind, name, "deleted"))
                    catalog.audit("apply.deleted", f"{kind.lower()}/{name}", {"prune": True}, actor=actor,
                                  source=source)
    return changes

