"""The HTTP API (FastAPI): webhooks that wake the control loop, and read-only views.

:func:`create_app` builds an application around a catalog factory, so tests and the
control loop each supply their own catalog; routes stay thin (a dependency, one call
into the core, a response).
"""

from unifier.api.app import create_app

__all__ = ["create_app"]
