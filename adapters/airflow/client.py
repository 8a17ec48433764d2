"""One authenticated connection to one Airflow API server, over ``apache-airflow-client``.

The generated client builds every request (paths, query serialization, request
bodies) and owns the connection pool. Responses are read through its
``*_without_preload_content`` variants and parsed here, for two reasons:

- its response models use closed enums (``DagRunState`` knows four states,
  ``DagRunType`` six): a state a newer Airflow adds would make deserialization raise,
  where the adapter must map it to ``unknown``;
- the watermark of ``changes()`` comes from the server's own clock (the ``Date``
  header), which typed responses do not expose.

``POST /auth/token`` is not part of the generated API classes (it lives outside
``/api/v2``); it goes through the same ``ApiClient.call_api`` and connection pool.

Errors become unifier's: unreachable, timing out or 5xx -> ToolUnavailable; 401/403 ->
AdapterError naming the credentials; 404 -> NotFound; garbage -> AdapterError.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import airflow_client.client as af
import urllib3

from unifier.adapters.airflow.settings import AirflowSettings
from unifier.errors import AdapterError, NotFound, ToolUnavailable

# Refresh a password-derived token this long before it expires (Airflow's default
# lifetime is 24 h; a short-lived one is refreshed at half its life).
TOKEN_REFRESH_MARGIN = 300.0


class AirflowHTTPError(AdapterError):
    """Airflow refused a request with an HTTP status (kept in ``status``) that callers may
    interpret: 400 and 422 on a trigger are a verdict on its parameters."""

    def __init__(self, message: str, *, status: int, instance: str | None = None):
        self.status = status
        super().__init__(message, instance=instance)


@dataclass
class Response:
    status: int
    body: Any  # parsed JSON, or None when the body was empty
    server_time: datetime | None  # from the Date header


class AirflowClient:
    """Thread-safe: the adapter calls it from worker threads (``asyncio.to_thread``)."""

    def __init__(self, instance: str, settings: AirflowSettings):
        self.instance = instance
        self.settings = settings
        config = af.Configuration(host=settings.url)
        if isinstance(settings.verify, str):
            config.ssl_ca_cert = settings.verify
        else:
            config.verify_ssl = settings.verify
        # Reconnect quickly on a refused connection; never re-send a request that reached
        # the server (a POST is idempotent here only through the dag_run_id).
        config.retries = urllib3.Retry(total=2, connect=2, read=0, status=0, redirect=0, backoff_factor=0.1)
        self.api = af.ApiClient(config)
        self.requests = 0  # every HTTP request sent, token requests included
        self._version: str | None = None if settings.api_version == "auto" else settings.api_version
        self._version_lock = threading.Lock()
        # the bearer token a password buys, owned by this client: the control loop keeps
        # one adapter per instance alive between cycles, so it logs in once, not per sync
        if settings.token is not None:
            config.access_token = settings.token.get_secret_value()
            self.session: _Session | None = None
        else:
            self.session = _Session()

    # -- which REST API -------------------------------------------------------------------

    @property
    def version(self) -> str:
        """``v2`` (Airflow 3) or ``v1`` (Airflow 2), asked of the server once per client:
        its unauthenticated health endpoint exists under one prefix only."""
        if self._version is None:
            with self._version_lock:
                if self._version is None:
                    self._version = self._detect_version()
        return self._version

    def _detect_version(self) -> str:
        for version, path in (("v2", "/api/v2/monitor/health"), ("v1", "/api/v1/health")):
            resp = self._send(self._raw_invoke("GET", path, {}, None, text=False), what=f"GET {path}",
                              text=True)
            if 200 <= resp.status < 300:
                return version
            if resp.status >= 500:
                self._check(resp, f"GET {path}")
        raise AdapterError(f"no Airflow REST API at {self.settings.url} (neither /api/v2 nor /api/v1 "
                           "answers): check `url`", instance=self.instance)

    # -- authentication -----------------------------------------------------------------

    def _ensure_token(self, force: bool = False) -> None:
        session = self.session
        if session is None or self.version == "v1":  # a static token; Airflow 2's basic auth
            return
        with session.lock:
            if force or not session.token or time.time() >= session.refresh_at:
                session.token, session.refresh_at = self._login()
            self.api.configuration.access_token = session.token

    def _login(self) -> tuple[str, float]:
        body = {"username": self.settings.username,
                "password": self.settings.password.get_secret_value()}  # type: ignore[union-attr]
        resp = self._send(lambda timeout: self.api.call_api(
            "POST", f"{self.settings.url}/auth/token",
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body, _request_timeout=timeout).response, what="POST /auth/token")
        if resp.status in (400, 401, 403, 422):
            raise AdapterError(
                f"Airflow at {self.settings.url} refused the username/password of "
                f"{self.settings.username!r} (HTTP {resp.status} from /auth/token): check the "
                "instance's credentials", instance=self.instance)
        self._check(resp, "POST /auth/token")
        token = resp.body.get("access_token") if isinstance(resp.body, dict) else None
        if not token:
            raise AdapterError(f"Airflow at {self.settings.url} answered /auth/token without an "
                               "access_token", instance=self.instance)
        now = time.time()
        expiry = _jwt_expiry(token)
        lifetime = (expiry - now) if expiry else 24 * 3600.0
        return token, now + max(lifetime - min(TOKEN_REFRESH_MARGIN, lifetime / 2), 1.0)

    # -- requests -----------------------------------------------------------------------

    def call(self, method: Callable[..., Any], *args: Any, what: str, **kwargs: Any) -> Response:
        """Call a generated ``*_without_preload_content`` method; raise on error statuses
        other than 404 and 409, which callers interpret."""
        return self._finish(lambda timeout: method(*args, _request_timeout=timeout, **kwargs), what)

    def raw(self, method: str, path: str, *, what: str, query: dict[str, Any] | None = None,
            body: Any = None, text: bool = False) -> Response:
        """A request the generated (v2) client has no method for: Airflow 2's /api/v1.
        Same pool, same error handling as :meth:`call`."""
        return self._finish(self._raw_invoke(method, path, query or {}, body, text), what, text=text)

    def _raw_invoke(self, method: str, path: str, query: dict[str, Any], body: Any,
                    text: bool) -> Callable[[float], Any]:
        url = f"{self.settings.url}{path}"
        pairs = [(k, v) for k, v in query.items() if v is not None]
        if pairs:
            url += "?" + urlencode(pairs, doseq=True)
        headers = {"Accept": "text/plain" if text else "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"

        def invoke(timeout: float) -> Any:
            headers.update(self._auth_header())
            return self.api.call_api(method, url, header_params=headers, body=body,
                                     _request_timeout=timeout).response
        return invoke

    def _auth_header(self) -> dict[str, str]:
        if self.settings.token is not None:
            return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}
        if self._version == "v1":
            pair = f"{self.settings.username}:{self.settings.password.get_secret_value()}"  # type: ignore[union-attr]
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        token = self.api.configuration.access_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _finish(self, invoke: Callable[[float], Any], what: str, text: bool = False) -> Response:
        self._ensure_token()
        resp = self._send(invoke, what=what, text=text)
        if resp.status == 401 and self.session is not None and self.version == "v2":
            # The token died early (the server's signing secret changed): log in again once.
            self._ensure_token(force=True)
            resp = self._send(invoke, what=what, text=text)
        if resp.status in (401, 403):
            how = "token" if self.settings.token is not None else f"user {self.settings.username!r}"
            raise AdapterError(
                f"Airflow at {self.settings.url} refused {what} for {how} (HTTP {resp.status}): "
                "check the credentials and the user's permissions", instance=self.instance)
        if resp.status == 404:
            raise NotFound(f"{self.instance}: {what}: not found in Airflow ({_detail(resp.body)})")
        if resp.status != 409:
            self._check(resp, what)
        return resp

    def _send(self, invoke: Callable[[float], Any], what: str, text: bool = False) -> Response:
        self.requests += 1
        try:
            raw = invoke(self.settings.timeout)
        except af.ApiException as exc:  # how the generated client wraps urllib3's SSLError
            reason = str(exc.reason)
            if "SSL" in reason:
                raise AdapterError(f"TLS with Airflow at {self.settings.url} failed ({reason}); set "
                                   "`verify` to a CA bundle, or false", instance=self.instance) from None
            raise AdapterError(f"{what}: the request could not be sent: {reason}",
                               instance=self.instance) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ToolUnavailable(f"Airflow at {self.settings.url} is unreachable ({what}): "
                                  f"{_reason(exc)}", instance=self.instance) from None
        data = raw.data
        body: Any = None
        if data and text:
            body = data.decode("utf-8", "replace")
        elif data:
            try:
                body = json.loads(data)
            except ValueError:
                if 200 <= raw.status < 300:
                    raise AdapterError(f"Airflow at {self.settings.url} answered {what} with something "
                                       f"that is not JSON: {data[:120]!r}", instance=self.instance) from None
                body = data[:500].decode("utf-8", "replace")
        return Response(status=raw.status, body=body, server_time=_date_header(raw.headers))

    def _check(self, resp: Response, what: str) -> None:
        if resp.status >= 500:
            raise ToolUnavailable(f"Airflow at {self.settings.url} failed {what} (HTTP {resp.status}: "
                                  f"{_detail(resp.body)})", instance=self.instance)
        if not 200 <= resp.status < 300:
            raise AirflowHTTPError(f"Airflow at {self.settings.url} refused {what} (HTTP {resp.status}: "
                                   f"{_detail(resp.body)})", status=resp.status, instance=self.instance)

    def close(self) -> None:
        self.api.rest_client.pool_manager.clear()


@dataclass
class _Session:
    """The bearer token a username/password bought, and when to buy a new one; the lock
    keeps worker threads from logging in at once."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    token: str = ""
    refresh_at: float = 0.0


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, unverified (only to know when to refresh)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _date_header(headers: Any) -> datetime | None:
    value = headers.get("date") if headers is not None else None
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _detail(body: Any) -> str:
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else json.dumps(detail)[:300]
    return str(body)[:300] if body is not None else "no body"


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)
