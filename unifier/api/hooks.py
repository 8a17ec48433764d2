"""``POST /hooks/{instance}``: a tool says something changed; the loop syncs it now.

Authenticated by ``Authorization: Bearer <secret>``, the secret being the instance's
``spec.webhook_secret`` reference, resolved at each request (rotating it needs no
restart). Any body is accepted (the Airflow listener sends
``{"event","dag_id","run_id","state"}``): it is only a hint; the sync reads the truth.

    202 accepted, sync requested   401 missing or wrong token
    403 webhook not enabled for the instance   404 no such instance

The catalog read and the secret's resolution run in a worker thread
(``run_in_threadpool``): this route shares its event loop with the control loop and
answers while the catalog waits for another process's write lock.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Header, HTTPException, status
from starlette.concurrency import run_in_threadpool

from unifier import secrets
from unifier.api.deps import CatalogDep, WakeDep
from unifier.catalog import Catalog
from unifier.errors import NotFound, SecretError

log = logging.getLogger(__name__)
router = APIRouter(tags=["hooks"])


def _expected_token(catalog: Catalog, instance: str) -> str:
    """The instance's webhook secret, resolved now; raises the HTTP answer when there is none."""
    try:
        stored = catalog.get_instance(instance)
    except NotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no instance named {instance!r}") from None
    reference = stored.spec.get("webhook_secret")
    if not reference:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"webhook not enabled for {instance} (set spec.webhook_secret)")
    try:
        return secrets.resolve_str(str(reference))
    except SecretError:
        # the reference cannot be resolved here: refuse, and never say what it holds
        log.warning("webhook secret of %s cannot be resolved", instance)
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"webhook secret of {instance} cannot be resolved on this server") from None


@router.post("/hooks/{instance}", status_code=status.HTTP_202_ACCEPTED)
async def hook(instance: str, catalog: CatalogDep, wake: WakeDep,
               authorization: str | None = Header(default=None)) -> dict[str, object]:
    expected = await run_in_threadpool(_expected_token, catalog, instance)
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    wake(instance)
    return {"instance": instance, "accepted": True}
