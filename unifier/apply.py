"""Applying validated configuration to the catalog, kubectl style.

Each document kind has an :class:`Applier` that knows how its objects are stored;
:func:`plan_apply` computes what would change without writing, :func:`apply` writes it
and audits every change. Kinds beyond Instance register their applier with
:func:`register_applier`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from unifier.catalog import Catalog
from unifier.config import ConfigSet, Loaded


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


APPLIERS: dict[str, Applier] = {}


def register_applier(applier: Applier) -> None:
    APPLIERS[applier.kind] = applier


def _put_instance(catalog: Catalog, item: Loaded) -> str:
    return catalog.put_instance(item.name, item.model.spec.adapter, item.stored_spec(),
                                item.spec_hash(), item.location)


register_applier(Applier(
    kind="Instance",
    existing=lambda catalog: {s.instance.name: s.spec_hash for s in catalog.list_instances()},
    put=_put_instance,
    delete=Catalog.delete_instance,
))


def plan_apply(catalog: Catalog, config: ConfigSet, *, prune: bool = False) -> list[Change]:
    changes: list[Change] = []
    for kind, applier in APPLIERS.items():
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
    """Write ``config`` to the catalog; objects are applied in kind registration order
    (instances before the triggers that name their jobs)."""
    changes: list[Change] = []
    for kind, applier in APPLIERS.items():
        for item in config.of_kind(kind):
            action = applier.put(catalog, item)
            changes.append(Change(kind, item.name, action, item.location))
            if action != "unchanged":
                catalog.audit(f"apply.{action}", f"{kind.lower()}/{item.name}", {"source": item.location},
                              actor=actor, source=source)
    if prune:
        named = {(d.kind, d.name) for d in config.documents}
        for kind, applier in reversed(APPLIERS.items()):
            for name in sorted(applier.existing(catalog)):
                if (kind, name) not in named:
                    applier.delete(catalog, name)
                    changes.append(Change(kind, name, "deleted"))
                    catalog.audit("apply.deleted", f"{kind.lower()}/{name}", {"prune": True}, actor=actor,
                                  source=source)
    return changes


# Kinds defined elsewhere register their appliers on import; importing them here means
# `apply` knows every kind whoever calls it.
import unifier.auth.policies  # noqa: E402,F401  (AccessPolicy, ApprovalPolicy)
import unifier.triggers.store  # noqa: E402,F401
