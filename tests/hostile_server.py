"""A local HTTP server whose answers a test chooses: the hostile document hosts that a
``jwks_uri`` or a Client ID Metadata Document URL may point at."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    #: Seconds between chunks of the body (a slow sender), and before the headers.
    trickle: float = 0.0
    delay: float = 0.0
    #: False: no Content-Length, the body ends when the connection closes.
    declare_length: bool = True


class HostileServer:
    """Serves ``answers[path]``; counts requests per path and remembers the Host headers."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.requests: list[tuple[str, str]] = []
        #: (path, Content-Type, body) of each POST, in order (a logout receiver's view).
        self.posts: list[tuple[str, str, bytes]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                owner.posts.append((self.path, self.headers.get("Content-Type", ""), body))
                self.do_GET()

            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Host", "")))
                answer = owner.answers.get(self.path, Answer(404, b"{}"))
                time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in answer.headers and answer.declare_length:
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                try:
                    if answer.trickle:
                        for byte in answer.body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(answer.trickle)
                    else:
                        self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up, as it should

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve_json(self, path: str, document: object, **headers: str) -> str:
        self.answers[path] = Answer(
            body=json.dumps(document).encode(),
            headers={"Content-Type": "application/json", **headers},
        )
        return self.url(path)

    def hits(self, path: str) -> int:
        return sum(1 for seen, _ in self.requests if seen == path)


def running_server() -> Iterator[HostileServer]:
    server = HostileServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
