"""A scripted Kubernetes API server that answers with recorded API responses.

kmock cannot show resourceVersion-driven behaviour (it has no resource versions, never
answers 410 Gone, replays everything on every watch and ignores selectors). These
tests show it at the adapter's seam instead: the real ``kubernetes`` client talks HTTP
to this server, which answers each request with JSON recorded from (or written exactly
in the shape of) the real API server's responses (fixtures in ``recorded/``), and
records every request so a test can assert what the adapter asked for (the
resourceVersion a watch resumes from, a labelSelector, a continue token).

Watch responses are chunked like the API server's. ``Reply(lines=..., drop=True)``
closes the connection without the final chunk: the client sees a broken stream, as
when a load balancer or the API server drops a watch mid-flight.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

RECORDED = Path(__file__).parent / "recorded"


def recorded(name: str) -> Any:
    """A recorded response body (JSON) from recorded/."""
    return json.loads((RECORDED / name).read_text())


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON body of a plain response
    lines: list[Any] | None = None  # watch events, one JSON document per line
    drop: bool = False  # break the stream after the lines instead of ending it cleanly
    raw: bytes | None = None  # a body that is not JSON (garbage)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any = None

    @property
    def watch(self) -> bool:
        return self.query.get("watch") == "true"


@dataclass
class RecordedApi:
    """Answers with ``route(seen) -> Reply``; records every request in ``seen``."""

    route: Callable[[Seen], Reply]
    seen: list[Seen] = field(default_factory=list)

    def __enter__(self) -> RecordedApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                seen = Seen(self.command, parts.path, query, body)
                api.seen.append(seen)
                reply = api.route(seen)
                if reply.lines is not None:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for line in reply.lines:
                        data = json.dumps(line).encode() + b"\n"
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                    if not reply.drop:
                        self.wfile.write(b"0\r\n\r\n")
                    self.close_connection = True
                    return
                data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def requests(self, path: str, watch: bool | None = None) -> list[Seen]:
        return [s for s in self.seen if s.path == path and (watch is None or s.watch == watch)]


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A metav1.Status body, as the API server sends with an error."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
