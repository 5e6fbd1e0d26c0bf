"""Logs: JSON lines on stdout, one per request, each line of a request carrying its request id.

What a request line says: time, level, service, request id, method, path (never the query
string: it may carry codes), status, duration, remote address, and what a view noted with
``note()`` (the OAuth client, an outcome). Never a secret, code, password, token, header or
cookie: views note identifiers and error codes only.

Shared by the authorization server and the resource API (which never imports the server).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from flask import Flask, has_request_context, request

#: The request id of the request being handled, for every log line written meanwhile.
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
#: A client's (or proxy's) own request id is kept only in this shape.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
#: Where notes for the request line wait in the WSGI environ.
_NOTES = "jsonlog.notes"
#: Longest path written; a path is the client's to choose.
_MAX_PATH = 512


def note(**fields: str | int | None) -> None:
    """Add identifiers or outcomes (never secrets) to this request's log line."""
    if has_request_context():
        notes = request.environ.get(_NOTES)
        if notes is not None:
            notes.update({k: v for k, v in fields.items() if v is not None})


def notes_in(environ: dict) -> dict:
    """What views noted for this request (read once it is answered, e.g. by metrics)."""
    return environ.get(_NOTES) or {}


class RequestIdFilter(logging.Filter):
    """Puts the request id (or None outside a request) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)s " + service + " %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        return f"{text} [{getattr(record, 'request_id', None) or '-'}] {extra}".rstrip()


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time (pytest swaps it per test)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(app: Flask, service: str) -> None:
    """A stdout handler on the app's logger and on gunicorn's error logger, replacing the one a
    previous app of this service installed; records still propagate (pytest's capture)."""
    kind = str(app.config.get("LOG_FORMAT", "json")).lower()
    if kind not in ("json", "text"):
        raise RuntimeError(f"LOG_FORMAT must be json or text, not {kind!r}.")
    formatter = JsonFormatter(service) if kind == "json" else TextFormatter(service)

    logger = logging.getLogger(app.import_name)  # app.logger, before Flask adds its own handler
    _install(logger, formatter, replace=lambda h: isinstance(h, StdoutHandler))
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)

    gunicorn = logging.getLogger("gunicorn.error")
    if gunicorn.handlers:
        # Under gunicorn: its lines too, instead of (not as well as) its stderr text lines.
        _install(gunicorn, formatter, replace=_writes_to_a_terminal_stream)

    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    app.wsgi_app = RequestLog(app.wsgi_app, logging.getLogger(f"{app.import_name}.requests"), hops)


def _install(
    logger: logging.Logger, formatter: logging.Formatter, replace: Callable[[logging.Handler], bool]
) -> None:
    for handler in [h for h in logger.handlers if replace(h)]:
        logger.removeHandler(handler)
    handler = StdoutHandler()
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)


def _writes_to_a_terminal_stream(handler: logging.Handler) -> bool:
    return isinstance(handler, StdoutHandler) or (
        type(handler) is logging.StreamHandler
        and getattr(handler, "stream", None) in (sys.stderr, sys.stdout)
    )


class RequestLog:
    """WSGI middleware: the request id in and out, and one line per request once it is answered.

    It sits inside ProxyFix, so the remote address is the client's as the trusted proxies saw it.
    """

    def __init__(self, app, log: logging.Logger, trusted_proxies: int) -> None:
        self.app = app
        self.log = log
        self.trusted_proxies = trusted_proxies

    def request_id(self, environ: dict) -> str:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        if self.trusted_proxies > 0 and _SANE_REQUEST_ID.fullmatch(given):
            return given
        return uuid.uuid4().hex

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = self.request_id(environ)
        notes: dict = {}
        environ[_NOTES] = notes
        answered: list[int] = []

        def start(status: str, headers: list, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append(("X-Request-ID", request_id))
            answered[:] = [int(status.split(None, 1)[0])]
            return start_response(status, headers, exc_info)

        token = _request_id.set(request_id)
        try:
            return self.app(environ, start)
        except Exception:
            answered[:] = [500]
            raise
        finally:
            self._write(environ, answered[0] if answered else 500, started, notes)
            _request_id.reset(token)

    def _write(self, environ: dict, status: int, started: float, notes: dict) -> None:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        path = path.encode("latin-1", "replace").decode("utf-8", "replace")[:_MAX_PATH]
        method = environ.get("REQUEST_METHOD", "")[:16]
        fields = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "remote_addr": environ.get("REMOTE_ADDR"),
            **notes,
        }
        level = logging.ERROR if status >= 500 else logging.INFO
        self.log.log(level, "%s %s %s", method, path, status, extra={"fields": fields})
