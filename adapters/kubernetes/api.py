"""The few Kubernetes API calls the adapter makes, through the official client.

Every call is blocking (the adapter runs it with ``asyncio.to_thread``), returns the
API's JSON as plain dicts (``_preload_content=False``: no model classes, the same
shapes the API documentation and recorded responses show) and is counted in a
:class:`Tally`, so a sync cycle can report what it cost. Errors become unifier errors:
a cluster that cannot be reached or answers 5xx raises ToolUnavailable; 410 Gone is
reported to the caller, which relists.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.watch.watch import iter_resp_lines

from unifier.adapters.kubernetes.settings import KubernetesSettings
from unifier.errors import AdapterError, NotFound, ToolUnavailable

GONE = 410


class Gone(Exception):
    """The resourceVersion (or continue token) asked for is too old: relist."""


@dataclass
class Tally:
    """Requests made to the API server (one per HTTP request, pages included)."""

    count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.count += n


@dataclass
class WatchSession:
    """What one bounded watch delivered: events in order (BOOKMARKs included, ERRORs
    not), and why it ended early if it did."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    gone: bool = False  # a 410 Gone: the resourceVersion is too old, relist
    dropped: str | None = None  # the stream broke; resume from the last event next time
    error: str | None = None  # an ERROR event other than 410 (the server failed the watch)


def _status_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
        return body.get("message") or exc.reason or ""
    except ValueError:
        return exc.reason or str(exc.status)


class KubeApi:
    """One cluster connection (an ``ApiClient`` built from the instance's settings)."""

    def __init__(self, settings: KubernetesSettings, instance: str):
        self.settings = settings
        self.instance = instance
        self._client: client.ApiClient | None = None
        self._lock = threading.Lock()

    # -- connection ---------------------------------------------------------------------

    def api_client(self) -> client.ApiClient:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> client.ApiClient:
        s = self.settings
        try:
            if s.in_cluster:
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                return client.ApiClient(configuration)
            return config.new_client_from_config(config_file=s.kubeconfig, context=s.context)
        except (ConfigException, OSError, TypeError, ValueError) as exc:
            where = "in-cluster service account" if s.in_cluster else (
                f"kubeconfig {s.kubeconfig or '(default: $KUBECONFIG or ~/.kube/config)'}"
                + (f", context {s.context}" if s.context else ""))
            raise AdapterError(f"cannot load {where}: {exc}", instance=self.instance) from None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api_client())

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client())

    # -- calls --------------------------------------------------------------------------

    def error(self, exc: Exception, what: str) -> Exception:
        """The unifier error for a failed call (``what`` says which, for the message)."""
        if isinstance(exc, ApiException):
            message = f"{what}: HTTP {exc.status} {_status_message(exc)}".rstrip()
            if exc.status == 404:
                return NotFound(f"{self.instance}: {what}: not found")
            if exc.status in (401, 403):
                return AdapterError(f"{message} (check the credentials and RBAC of this "
                                    "kubeconfig or service account)", instance=self.instance)
            if exc.status == 429 or exc.status >= 500 or exc.status == 0:
                return ToolUnavailable(message, instance=self.instance)
            return AdapterError(message, instance=self.instance)
        if isinstance(exc, urllib3.exceptions.HTTPError):
            return ToolUnavailable(f"{what}: cannot reach the API server: {exc}",
                                   instance=self.instance)
        if isinstance(exc, ValueError):
            return AdapterError(f"{what}: the API server answered garbage: {exc}",
                                instance=self.instance)
        return exc

    def call(self, fn: Callable[..., Any], what: str, tally: Tally, *args: Any,
             expect: tuple[int, ...] = (), raw: bool = False, **kwargs: Any) -> Any:
        """Make one request; return its JSON body (text if ``raw``). An HTTP status in
        ``expect`` is raised as the client's ApiException for the caller to handle."""
        tally.add()
        timeout = self.settings.request_timeout
        try:
            response = fn(*args, _preload_content=False, _request_timeout=(timeout, timeout),
                          **kwargs)
            data = response.data
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
            return text if raw else json.loads(text)
        except ApiException as exc:
            if exc.status in expect:
                raise
            raise self.error(exc, what) from None
        except (urllib3.exceptions.HTTPError, ValueError) as exc:
            raise self.error(exc, what) from None

    def list(self, kind: str, namespace: str | None, tally: Tally,
             label_selector: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Every object of ``kind`` ("jobs", "cronjobs", "pods") in the namespace (None:
        all), page by page; returns the items and the list's resourceVersion. An
        expired continue token restarts the list (a consistent snapshot)."""
        fn = self._lister(kind, namespace)
        where = f"list {kind}" + (f" in {namespace}" if namespace else "")
        args = (namespace,) if namespace else ()
        for _attempt in range(3):
            items: list[dict[str, Any]] = []
            token: str | None = None
            try:
                while True:
                    extra: dict[str, Any] = {"_continue": token} if token else {}
                    if label_selector:
                        extra["label_selector"] = label_selector
                    body = self.call(fn, where, tally, *args, limit=self.settings.page_size,
                                     expect=(GONE,), **extra)
                    if not isinstance(body, dict):
                        raise AdapterError(f"{where}: expected a list object, got {body!r:.80}",
                                           instance=self.instance)
                    items.extend(body.get("items") or [])
                    metadata = body.get("metadata") or {}
                    token = metadata.get("continue")
                    if not token:
                        return items, metadata.get("resourceVersion")
            except ApiException:  # 410: the continue token expired mid-list
                continue
        raise ToolUnavailable(f"{where}: the list kept expiring", instance=self.instance)

    def watch(self, kind: str, namespace: str | None, resource_version: str | None,
              seconds: float, tally: Tally) -> WatchSession:
        """Watch ``kind`` from ``resource_version`` for about ``seconds``: the server is
        asked to end the stream then (timeoutSeconds) and the client stops reading at
        the deadline or after ``seconds`` of silence, whichever comes first."""
        fn = self._lister(kind, namespace)
        args = (namespace,) if namespace else ()
        where = f"watch {kind}" + (f" in {namespace}" if namespace else "")
        session = WatchSession()
        deadline = time.monotonic() + seconds
        tally.add()
        try:
            response = fn(*args, watch=True, resource_version=resource_version or None,
                          allow_watch_bookmarks=True, timeout_seconds=max(1, math.ceil(seconds)),
                          _preload_content=False,
                          _request_timeout=(self.settings.request_timeout, seconds))
        except ApiException as exc:
            if exc.status == GONE:
                session.gone = True
                return session
            raise self.error(exc, where) from None
        except urllib3.exceptions.HTTPError as exc:
            raise self.error(exc, where) from None
        try:
            for line in iter_resp_lines(response):
                if not line.strip():
                    continue
                event = json.loads(line)
                kind_ = event.get("type")
                obj = event.get("object") or {}
                if kind_ == "ERROR":
                    if obj.get("code") == GONE:
                        session.gone = True
                    else:
                        session.error = f"ERROR event: HTTP {obj.get('code')} {obj.get('message') or obj}"
                    break
                session.events.append((kind_, obj))
                if time.monotonic() >= deadline:
                    break
        except urllib3.exceptions.ReadTimeoutError:
            pass  # silence for `seconds`: the cycle's share of the watch is over
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            session.dropped = f"stream broke: {exc}"
        except ValueError as exc:
            session.dropped = f"garbage in the stream: {exc}"
        finally:
            try:
                response.close()
                response.release_conn()
            except Exception:  # noqa: BLE001 - closing a broken stream may fail; nothing to do
                pass
        return session

    def _lister(self, kind: str, namespace: str | None) -> Callable[..., Any]:
        batch, core = self.batch, self.core
        table: dict[tuple[str, bool], Callable[..., Any]] = {
            ("jobs", True): batch.list_namespaced_job,
            ("jobs", False): batch.list_job_for_all_namespaces,
            ("cronjobs", True): batch.list_namespaced_cron_job,
            ("cronjobs", False): batch.list_cron_job_for_all_namespaces,
            ("pods", True): core.list_namespaced_pod,
            ("pods", False): core.list_pod_for_all_namespaces,
        }
        return table[(kind, bool(namespace))]
