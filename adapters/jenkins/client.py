"""HTTP to one Jenkins controller, through ``python-jenkins``, with unifier's errors.

``python-jenkins`` keeps what is fiddly about Jenkins (basic auth with an API token, the
CSRF crumb fetched from ``/crumbIssuer/api/json`` once and sent on POSTs, retries on
connection resets) and returns plain JSON; this module adds what unifier needs on top:

* URLs from full names: ``folder/sub/job`` -> ``job/folder/job/sub/job/job/``, each name
  percent-encoded (a multibranch branch ``feature%2Fx`` becomes ``feature%252Fx``, as
  Jenkins' own links do);
* GETs never ask for a crumb (python-jenkins would fetch one before the first request of
  any kind, doubling the cost of the first sync);
* a stale crumb (403 "No valid crumb", after a controller restart) is fetched again once;
* every request is counted, and HTTP failures become :class:`ToolUnavailable` (connection
  refused, timeouts, 5xx: only this instance degrades) or :class:`AdapterError` with the
  method, path and status, never a raw traceback.

Calls block; the adapter runs them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import quote, unquote, urlencode

import jenkins
import requests
from requests import Response
from requests import exceptions as req_exc

from unifier.errors import AdapterError, NotFound, ToolUnavailable


class JenkinsHTTPError(AdapterError):
    """Jenkins answered an HTTP error status (kept in ``status``)."""

    def __init__(self, message: str, *, status: int, instance: str | None = None):
        self.status = status
        super().__init__(message, instance=instance)


class HTTPStatusError(Exception):
    """Raised inside python-jenkins' request path so the status code survives."""

    def __init__(self, response: Response):
        self.response = response
        super().__init__(f"HTTP {response.status_code}")


class _Jenkins(jenkins.Jenkins):
    """python-jenkins with a status-preserving response handler and a request counter."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.requests = 0
        self._count_lock = threading.Lock()

    def _request(self, req: requests.Request, stream: Any = None) -> Response:
        with self._count_lock:
            self.requests += 1
        return super()._request(req, stream)

    def _response_handler(self, response: Response) -> Response:
        # python-jenkins folds 401/403/500 into one message; keep the response instead.
        # 404 stays python-jenkins' NotFoundException: its crumb probe relies on it.
        if response.status_code == 404:
            raise jenkins.NotFoundException("Requested item could not be found")
        if response.status_code >= 400:
            raise HTTPStatusError(response)
        return response


def job_path(full_name: str) -> str:
    """``a/b/c`` -> ``job/a/job/b/job/c/`` (relative to the controller root)."""
    if not full_name or full_name.startswith("/") or "//" in full_name:
        raise NotFound(f"not a Jenkins job name: {full_name!r}")
    return "".join(f"job/{quote(part, safe='')}/" for part in full_name.split("/"))


def full_name_from_url(url: str) -> str | None:
    """The job full name in a Jenkins URL (``.../job/a/job/b/`` -> ``a/b``), whatever the host:
    Jenkins writes URLs with its configured root URL, which may differ from ours."""
    if "/job/" not in url:
        return None
    tail = url.split("/job/", 1)[1].rstrip("/")
    return "/".join(unquote(part) for part in tail.split("/job/"))


class JenkinsClient:
    """One controller. ``instance`` names it in every error."""

    def __init__(self, instance: str, url: str, username: str | None, token: str | None,
                 verify: bool | str, timeout: float):
        self.instance = instance
        self.url = url
        self._jenkins = _Jenkins(url, username=username, password=token, timeout=timeout)
        self._jenkins._session.verify = verify
        # (monotonic time, X-Jenkins) of the last successful answer: health without a request
        self._last_heard: tuple[float, str] | None = None

    @property
    def requests(self) -> int:
        return self._jenkins.requests

    # -- requests -------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                crumb: bool | None = None) -> Response:
        """``path`` is relative to the root (``job/a/api/json``). POSTs carry a crumb when the
        controller issues one; a stale crumb is refreshed once."""
        crumb = method != "GET" if crumb is None else crumb
        url = self.url + path + (("&" if "?" in path else "?") + urlencode(params) if params else "")
        self._last_heard = None  # until this request succeeds
        for attempt in (1, 2):
            req = requests.Request(method, url)
            try:
                response = self._jenkins.jenkins_request(req, add_crumb=crumb)
            except HTTPStatusError as exc:
                response = exc.response
                if (attempt == 1 and crumb and response.status_code == 403
                        and "crumb" in response.text.lower()):
                    self._jenkins.crumb = None  # issued before a restart: ask again
                    continue
                raise self._status_error(method, path, response) from None
            except jenkins.NotFoundException:
                raise NotFound(f"{self.instance}: Jenkins has no {path.split('?')[0]!r}") from None
            except jenkins.TimeoutException as exc:
                raise ToolUnavailable(f"{method} {path.split('?')[0]} timed out: {exc}",
                                      instance=self.instance) from None
            except (req_exc.ConnectionError, req_exc.Timeout) as exc:
                raise ToolUnavailable(f"cannot reach Jenkins at {self.url}: {_short(exc)}",
                                      instance=self.instance) from None
            except req_exc.RequestException as exc:
                raise AdapterError(f"{method} {path.split('?')[0]} failed: {_short(exc)}",
                                   instance=self.instance) from None
            except jenkins.JenkinsException as exc:
                raise AdapterError(f"{method} {path.split('?')[0]}: {exc}", instance=self.instance) from None
            version = response.headers.get("X-Jenkins")
            self._last_heard = (time.monotonic(), version) if version else None
            return response
        raise AssertionError("unreachable")

    def _status_error(self, method: str, path: str, response: Response) -> AdapterError:
        where = f"{method} {path.split('?')[0]}"
        body = " ".join(response.text.split())[:200]
        status = response.status_code
        if status >= 500 or status == 429:
            return ToolUnavailable(f"{where} answered {status}: {body}", instance=self.instance)
        hint = " (check username, token and the user's permissions)" if status in (401, 403) else ""
        return JenkinsHTTPError(f"{where} answered {status}{hint}: {body}", status=status,
                                instance=self.instance)

    def get_json(self, path: str, *, tree: str | None = None) -> Any:
        response = self.request("GET", path, params={"tree": tree} if tree else None)
        try:
            return response.json()
        except ValueError:
            text = " ".join(response.text.split())[:120]
            raise AdapterError(f"GET {path} did not answer JSON (got {text!r}); is {self.url} "
                               "a Jenkins controller?", instance=self.instance) from None

    def get_text(self, path: str) -> str:
        return self.request("GET", path).text

    def close(self) -> None:
        self._jenkins._session.close()

    def version_heard_within(self, seconds: float) -> str | None:
        """The controller's version if it answered successfully in the last ``seconds``."""
        heard = self._last_heard
        if heard is None or time.monotonic() - heard[0] > seconds:
            return None
        return heard[1]

    def version(self) -> str | None:
        response = self.request("GET", "api/json", params={"tree": "mode"})
        return response.headers.get("X-Jenkins")


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."

