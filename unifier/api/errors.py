"""The error tree (:mod:`unifier.errors`) as HTTP answers: ``{"detail": ...}`` always,
never a stack trace.

    ConfigError 422 (with every problem)   InvalidInput 400   NotFound 404
    Unauthenticated 401   Forbidden 403 (names the missing permission)
    JobBusy / TriggerRefused / Unsupported 409   ToolUnavailable 503
    AdapterError 502   SecretError / CatalogError / PluginError 503
    JWKSUnavailable 503 (the identity provider's keys cannot be read: no token can be checked)
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unifier.auth.oidc import JWKSUnavailable
from unifier.errors import (
    AdapterError,
    CatalogError,
    ConfigError,
    Forbidden,
    InvalidInput,
    JobBusy,
    NotFound,
    PluginError,
    SecretError,
    ToolUnavailable,
    TriggerRefused,
    Unauthenticated,
    UnifierError,
    Unsupported,
)

# most specific first: the first class the error is an instance of decides
STATUS: tuple[tuple[type[UnifierError], int], ...] = (
    (ConfigError, 422), (InvalidInput, 400), (NotFound, 404), (Unauthenticated, 401), (Forbidden, 403),
    (JobBusy, 409), (TriggerRefused, 409), (Unsupported, 409), (ToolUnavailable, 503),
    (AdapterError, 502), (SecretError, 503), (CatalogError, 503), (PluginError, 503), (JWKSUnavailable, 503),
)


def status_of(exc: UnifierError) -> int:
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 500)


def answer(exc: UnifierError) -> JSONResponse:
    code = status_of(exc)
    body: dict[str, object] = {"detail": str(exc)}
    headers = {}
    if isinstance(exc, ConfigError):
        body["problems"] = [str(p) for p in exc.problems]
    if isinstance(exc, Forbidden):
        body["missing_permission"] = exc.permission
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=code, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(UnifierError)
    async def _unifier_error(_request: Request, exc: UnifierError) -> JSONResponse:
        return answer(exc)

    @app.exception_handler(ValueError)
    async def _bad_value(_request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc).splitlines()[0][:500] if str(exc) else "bad input"},
                            status_code=400)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether the client announced
    the length or streams it."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send, self.limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    response = JSONResponse({"detail": f"request body larger than {limit} bytes"}, status_code=413)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
