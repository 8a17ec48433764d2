"""Serving the API with uvicorn: beside the control loop (``unifier run --listen``) or
alone (``unifier serve``).

uvicorn runs in the caller's event loop. The routes keep that loop free: plain ``def``
routes run in FastAPI's worker threads, and the async ones (webhooks, the event
stream) send their catalog calls there too (:func:`starlette.concurrency.run_in_threadpool`).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import uvicorn

from unifier.catalog import Catalog
from unifier.errors import UnifierError

if TYPE_CHECKING:
    from unifier.api.serving import ServeOptions

log = logging.getLogger(__name__)


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise UnifierError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8765")
    return host or "127.0.0.1", int(port)


class _Server(uvicorn.Server):
    """The process owns SIGTERM/SIGINT (the control loop stops first): uvicorn must not
    take them over."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """uvicorn in this event loop: :meth:`start` returns once it listens (or raises)."""

    def __init__(self, app: Any, listen: str, **uvicorn_options: Any):
        host, port = parse_listen(listen)
        self.listen = listen
        # open event streams must not hold a SIGTERM for long: close them after 1 s
        self._server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                              lifespan="off", access_log=False,
                                              timeout_graceful_shutdown=1, **uvicorn_options))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                try:
                    self._task.result()
                except BaseException as exc:  # uvicorn exits when it cannot bind
                    raise UnifierError(f"cannot listen on {self.listen}: {exc!r}") from None
                raise UnifierError(f"cannot listen on {self.listen}")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            await self._task


async def run_api_only(catalog: Catalog, listen: str, serve: ServeOptions | None = None) -> None:
    """``unifier serve``: the API without the control loop, until SIGTERM/SIGINT."""
    from unifier.api.serving import ServeOptions, build_api

    serve = serve or ServeOptions()
    app = build_api(catalog, parse_listen(listen)[0], serve)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    server = ApiServer(app, listen, **serve.uvicorn_options())
    await server.start()
    log.info("listening on %s://%s", serve.scheme, listen)
    await stopping.wait()
    await server.stop()
