"""Cross-tool dependency triggers: the Trigger document kind and what keeps it."""

from unifier.triggers.spec import TriggerDocument, TriggerSpec

__all__ = ["TriggerDocument", "TriggerSpec"]
