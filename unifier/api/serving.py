"""How ``unifier serve`` and ``unifier run --listen`` expose the API: secure by default.

:class:`ServeOptions` carries what the command line says (TLS files; an OIDC verifier,
else the one ``UNIFIER_OIDC_*`` configures); :func:`build_api` checks the listen address against the
authentication configured (refusing a non-loopback address without any) and builds
the application.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from unifier.api.deps import WakeFn
from unifier.api.security import check_listen, is_loopback
from unifier.auth.authenticate import TokenVerifier, oidc_from_env
from unifier.catalog import Catalog
from unifier.errors import InvalidInput
from unifier.metrics import UnifierMetrics

log = logging.getLogger("unifier.api")


@dataclass(frozen=True)
class ServeOptions:
    tls_cert: Path | None = None
    tls_key: Path | None = None
    oidc: TokenVerifier | None = None

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InvalidInput("--tls-cert and --tls-key go together")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not path.is_file():
                raise InvalidInput(f"no such file: {path}")

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    def uvicorn_options(self) -> dict[str, Any]:
        if self.tls_cert is None:
            return {}
        return {"ssl_certfile": str(self.tls_cert), "ssl_keyfile": str(self.tls_key)}


def build_api(catalog: Catalog, host: str, options: ServeOptions, *, wake: WakeFn | None = None,
              metrics: UnifierMetrics | None = None) -> FastAPI:
    from unifier.api import create_app

    oidc = options.oidc if options.oidc is not None else oidc_from_env()
    warning = check_listen(host, catalog, oidc)  # raises on a public address without auth
    if warning:
        log.warning(warning)
    return create_app(lambda: catalog, wake=wake, oidc=oidc, allow_open=is_loopback(host), metrics=metrics)
