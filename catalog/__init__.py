"""Storage of instances, jobs, runs, run events, sync watermarks and the audit log."""

from unifier.catalog.database import database_url, unifier_home
from unifier.catalog.store import Catalog, StoredInstance, SyncState

__all__ = ["Catalog", "StoredInstance", "SyncState", "database_url", "unifier_home"]
