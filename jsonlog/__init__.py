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
import math
import re
import secrets
import sys
import time
import traceback
from collections.abc import Callable, Iterable

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
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return self.line(
            record.created,
            record.levelname,
            record.name,
            getattr(record, "request_id", None),
            record.getMessage(),
            getattr(record, "fields", {}),
            exception,
        )

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        request_id: str | None,
        message: str,
        fields: dict,
        exception: str | None = None,
    ) -> str:
        """One line from its parts: a record's, or a request's (``RequestLog``)."""
        line = {
            "time": iso_time(created),
            "level": level,
            "service": self.service,
            "logger": logger,
            "request_id": request_id,
            "message": message,
        }
        line.update(fields)
        if exception:
            line["exception"] = exception
        return _ENCODER.encode(line)


#: ``json.dumps(..., default=str)`` without making an encoder per line.
_ENCODER = json.JSONEncoder(default=str)
#: The last whole second formatted, as (seconds, "YYYY-MM-DDTHH:MM:SS"): one per second, not
#: one per line.
_last_second: tuple[int, str] = (-1, "")


def iso_time(created: float) -> str:
    """``created`` in ISO 8601 UTC to the millisecond, as ``datetime.isoformat`` writes it."""
    global _last_second
    fraction, whole_seconds = math.modf(created)
    whole, micro = int(whole_seconds), round(fraction * 1e6)  # as datetime rounds it
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    second = _last_second
    if second[0] != whole:
        second = _last_second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{second[1]}.{micro // 1000:03d}+00:00"


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)s " + service + " %(name)s %(message)s")
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        return _with_extras(super().format(record), request_id, getattr(record, "fields", {}))

    def line(
        self,
        created: float,
        level: str,
        logger: str,
        request_id: str | None,
        message: str,
        fields: dict,
        exception: str | None = None,
    ) -> str:
        """As ``format`` writes a record with these parts (``RequestLog``'s lines)."""
        when = time.strftime(self.default_time_format, self.converter(created))
        when = f"{when},{int((created - int(created)) * 1000):03d}"  # logging's default_msec_format
        text = f"{when} {level} {self.service} {logger} {message}"
        if exception:
            text += "\n" + exception
        return _with_extras(text, request_id, fields)


def _with_extras(text: str, request_id: str | None, fields: dict) -> str:
    extra = " ".join(f"{k}={v}" for k, v in fields.items())
    return f"{text} [{request_id or '-'}] {extra}".rstrip()


#: Set on a request line's record when ``RequestLog`` has written the line itself already.
_WRITTEN = "jsonlog_written"


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

    def filter(self, record: logging.LogRecord) -> bool | logging.LogRecord:  # type: ignore[override]
        # (typeshed's Filterer.filter says bool; logging's own returns a record too, since 3.12.)
        # A request line that also went to other handlers: it is on stdout already.
        return not getattr(record, _WRITTEN, False) and super().filter(record)

    def write_line(self, line: str) -> None:
        """One finished line, as ``emit`` writes a record's: whole, then flushed."""
        self.acquire()
        try:
            stream = self.stream
            stream.write(line + self.terminator)
            stream.flush()
        except Exception:  # as logging's handlers do: a log line never fails a request
            if logging.raiseExceptions:
                traceback.print_exc(file=sys.stderr)
        finally:
            self.release()


def configure_logging(app: Flask, service: str) -> None:
    """A stdout handler on the app's logger and on gunicorn's error logger, replacing the one a
    previous app of this service installed; records still propagate (pytest's capture)."""
    kind = str(app.config.get("LOG_FORMAT", "json")).lower()
    if kind not in ("json", "text"):
        raise RuntimeError(f"LOG_FORMAT must be json or text, not {kind!r}.")
    formatter = JsonFormatter(service) if kind == "json" else TextFormatter(service)

    logger = logging.getLogger(app.import_name)  # app.logger, before Flask adds its own handler
    handler = _install(logger, formatter, replace=lambda h: isinstance(h, StdoutHandler))
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)

    gunicorn = logging.getLogger("gunicorn.error")
    if gunicorn.handlers:
        # Under gunicorn: its lines too, instead of (not as well as) its stderr text lines.
        _install(gunicorn, formatter, replace=_writes_to_a_terminal_stream)

    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    requests = logging.getLogger(f"{app.import_name}.requests")
    # Flask's documented way to add WSGI middleware; its types declare wsgi_app a plain method.
    app.wsgi_app = RequestLog(  # type: ignore[method-assign]
        app.wsgi_app, requests, handler, formatter, hops
    )


def _install(
    logger: logging.Logger, formatter: logging.Formatter, replace: Callable[[logging.Handler], bool]
) -> StdoutHandler:
    for handler in [h for h in logger.handlers if replace(h)]:
        logger.removeHandler(handler)
    handler = StdoutHandler()
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)
    return handler


def _writes_to_a_terminal_stream(handler: logging.Handler) -> bool:
    return isinstance(handler, StdoutHandler) or (
        type(handler) is logging.StreamHandler
        and getattr(handler, "stream", None) in (sys.stderr, sys.stdout)
    )


class RequestLog:
    """WSGI middleware: the request id in and out, and one line per request once it is answered.

    It sits inside ProxyFix, so the remote address is the client's as the trusted proxies saw it.
    The line is formatted and written here, on the app's stdout handler, rather than through
    ``logging``: a record's making, caller lookup, filters and handler walk cost more than the
    rest of answering a JWKS request. It still reaches any other handler that listens (pytest's
    capture, an operator's own), as a record marked as already written.
    """

    def __init__(
        self,
        app,
        log: logging.Logger,
        handler: StdoutHandler,
        formatter: JsonFormatter | TextFormatter,
        trusted_proxies: int,
    ) -> None:
        self.app = app
        self.log = log
        self.handler = handler
        self.formatter = formatter
        self.trusted_proxies = trusted_proxies

    def request_id(self, environ: dict) -> str:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        if self.trusted_proxies > 0 and _SANE_REQUEST_ID.fullmatch(given):
            return given
        return secrets.token_hex(16)

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
            self._write(environ, request_id, answered[0] if answered else 500, started, notes)
            _request_id.reset(token)

    def _write(
        self, environ: dict, request_id: str, status: int, started: float, notes: dict
    ) -> None:
        level = logging.ERROR if status >= 500 else logging.INFO
        if not self.log.isEnabledFor(level):
            return
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if not path.isascii():  # WSGI's latin-1 reading of the bytes sent, as UTF-8
            path = path.encode("latin-1", "replace").decode("utf-8", "replace")
        path = path[:_MAX_PATH]
        method = environ.get("REQUEST_METHOD", "")[:16]
        fields = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "remote_addr": environ.get("REMOTE_ADDR"),
            **notes,
        }
        line = self.formatter.line(
            time.time(),
            logging.getLevelName(level),
            self.log.name,
            request_id,
            f"{method} {path} {status}",
            fields,
        )
        self.handler.write_line(line)
        if not _heard_elsewhere(self.log):
            return
        extra = {"fields": fields, "request_id": request_id, _WRITTEN: True}
        self.log.log(level, "%s %s %s", method, path, status, extra=extra)


def _heard_elsewhere(logger: logging.Logger) -> bool:
    """Whether a record of ``logger`` would reach a handler other than ours."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(not isinstance(h, StdoutHandler) for h in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False
