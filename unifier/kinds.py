"""Every kind of configuration document unifier accepts, listed in one table.

A kind is a document model (what ``unifier validate`` checks and ``unifier schema``
publishes) and an applier (how ``unifier apply`` keeps its objects in the catalog).
Both are named by dotted path and imported on first use, as fsspec's registry does:
this module imports nothing of unifier, so the loader, ``apply`` and the modules that
define kinds can all use the table without an import cycle, and validating a file
does not load the catalog.

Adding a kind is one line in :data:`BUILTIN_KINDS`, e.g. ::

    Kind("Retention", "unifier.retention.spec:RetentionDocument",
         "unifier.retention.store:RETENTION_APPLIER", "how long runs and events are kept"),

where the document model subclasses :class:`unifier.config.documents.Document` with
``kind: Literal["Retention"]`` and the applier is an :class:`unifier.apply.Applier`.
Its place in the table is the order ``apply`` writes in (a kind after the kinds its
objects name: triggers name instances' jobs) and, reversed, the order
``apply --prune`` deletes in. A test checks every entry resolves and agrees on its name.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unifier.apply import Applier
    from unifier.config.documents import Document


@dataclass(frozen=True)
class Kind:
    """One document kind: ``model`` and ``applier`` are ``module:attribute`` paths."""

    name: str
    model_path: str
    applier_path: str
    description: str

    @property
    def model(self) -> type[Document]:
        return _resolve(self.model_path)

    @property
    def applier(self) -> Applier:
        return _resolve(self.applier_path)


BUILTIN_KINDS: tuple[Kind, ...] = (
    Kind("Instance", "unifier.config.documents:InstanceDocument", "unifier.apply:INSTANCE_APPLIER",
         "a connection to one tool"),
    Kind("Trigger", "unifier.triggers.spec:TriggerDocument", "unifier.triggers.store:TRIGGER_APPLIER",
         "when upstream jobs reach states, run downstream jobs"),
    Kind("AccessPolicy", "unifier.auth.policy_kinds:AccessPolicyDocument",
         "unifier.auth.policies:ACCESS_POLICY_APPLIER", "grant a role over job patterns to subjects"),
    Kind("ApprovalPolicy", "unifier.auth.policy_kinds:ApprovalPolicyDocument",
         "unifier.auth.policies:APPROVAL_POLICY_APPLIER", "jobs whose runs wait for approval"),
    Kind("Retention", "unifier.retention:RetentionDocument", "unifier.pruner:RETENTION_APPLIER",
         "how long run history, firings and audit entries are kept"),
)

KINDS: Mapping[str, Kind] = MappingProxyType({kind.name: kind for kind in BUILTIN_KINDS})
"""The same table by name, read-only: a kind is added to :data:`BUILTIN_KINDS`, never here."""


def _resolve(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)
