"""Authentication of API requests, secure by default.

:class:`ApiSecurity` decides, for each request, who is calling. With no API token and
no OIDC configured, the server runs *open* only when it was allowed to (``unifier
serve`` on a loopback address; see :func:`check_listen`): every caller is the
``anonymous`` admin. Once any authentication is configured, every route but
``GET /healthz`` (and the webhooks, which carry their own secret) requires
``Authorization: Bearer ...``; a refused credential is 401, never a 500.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from fastapi import Request

from unifier.auth.authenticate import Authenticator, TokenVerifier
from unifier.auth.principal import Grant, Principal
from unifier.auth.roles import ALL, Role
from unifier.catalog import Catalog
from unifier.errors import Unauthenticated, UnifierError

ANONYMOUS = Principal(name="anonymous", subjects=("anonymous",), grants=(Grant(Role.ADMIN, ALL, "open server"),))


class ApiSecurity:
    def __init__(self, catalog_factory: Callable[[], Catalog], *, oidc: TokenVerifier | None = None,
                 allow_open: bool = True):
        self.catalog_factory = catalog_factory
        self.oidc = oidc
        self.allow_open = allow_open
        self._required = oidc is not None  # once authentication is configured it stays required

    def required(self) -> bool:
        if not self._required:
            self._required = self.authenticator().configured()
        return self._required

    def authenticator(self) -> Authenticator:
        return Authenticator(self.catalog_factory(), self.oidc)

    def principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if not self.required():
            if self.allow_open:
                return ANONYMOUS
            raise Unauthenticated("authentication is not configured on this server")
        return self.authenticator().authenticate(header)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen(host: str, catalog: Catalog, oidc: TokenVerifier | None) -> str | None:
    """Refuse (UnifierError) to serve a non-loopback address without authentication;
    returns a warning to print when the server will run open on loopback."""
    if oidc is not None or Authenticator(catalog, None).configured():
        return None
    if is_loopback(host):
        return (f"no authentication configured: the API on {host} is OPEN to anyone on this machine "
                "(create a token with `unifier token create` to require one)")
    raise UnifierError(f"refusing to serve on {host} without authentication: create an API token "
                       "(`unifier token create NAME --role admin`) or configure OIDC first, "
                       "or listen on 127.0.0.1")
