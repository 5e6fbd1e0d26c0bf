"""The public documents (the JWKS and the metadata) answered before Flask runs, from the last
answer Flask made for them, for as long as the caches that answer was built from are known fresh.

Resource servers and client libraries fetch these far more often than they change, and a bare
Flask request context costs about as much again as building the answer from memory (issue 15:
the JWKS at 0.68x a bare Flask endpoint). So a plain ``GET`` (no query string, no
``If-None-Match``) of one of ``PATHS`` is answered with the status, headers and body Flask gave
the last such request, byte for byte, while both hold:

- the process has not read new cache versions nor changed a cache itself since (the store's
  ``generation``, ``services/caches.py``): a key rotated here shows at once;
- the versions it was built from are younger than ``CACHE_CHECK_INTERVAL`` by the app's clock:
  a rotation on another node, or a pre-published key coming due, shows within the same bound
  as without this memo.

Everything else (a conditional request, HEAD, a stale memo) goes to Flask, whose answer becomes
the new memo. With ``CACHE_CHECK_INTERVAL`` 0 nothing is memoised. The request's log line and
``X-Request-ID`` are added outside this, as for any request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask

from ..services.caches import store_of

PATHS = frozenset(
    {
        "/oauth/jwks",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    }
)


@dataclass(frozen=True)
class _Answer:
    headers: list[tuple[str, str]]
    body: bytes
    generation: int
    until: float  # seconds of the app's clock


class PublicDocuments:
    """WSGI middleware around ``app.wsgi_app`` (Flask's documented way to add middleware)."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.answers: dict[str, _Answer] = {}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if (
            path not in PATHS
            or environ.get("REQUEST_METHOD") != "GET"
            or environ.get("QUERY_STRING")
            or "HTTP_IF_NONE_MATCH" in environ
        ):
            return self.wsgi_app(environ, start_response)
        config = self.app.config
        store = store_of(self.app)
        answer = self.answers.get(path)
        if (
            answer is not None
            and answer.generation == store.generation
            and config["CLOCK"]().timestamp() < answer.until
        ):
            start_response("200 OK", list(answer.headers))
            return [answer.body]
        return self._remembered(path, environ, start_response)

    def _remembered(self, path: str, environ: dict, start_response: Callable) -> Iterable[bytes]:
        seen: dict = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: object = None):
            seen["status"], seen["headers"] = status, list(headers)
            return start_response(status, headers, exc_info)

        store = store_of(self.app)
        generation = store.generation  # before Flask runs: a change meanwhile spoils the memo
        chunks = self.wsgi_app(environ, start)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        interval = self.app.config["CACHE_CHECK_INTERVAL"]
        read_at = store.read_at
        if (
            interval > 0
            and read_at is not None
            and not store.unreadable
            and seen.get("status") == "200 OK"
        ):
            self.answers[path] = _Answer(seen["headers"], body, generation, read_at + interval)
        else:
            self.answers.pop(path, None)
        return [body]
