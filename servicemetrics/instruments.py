"""The metrics themselves, the request middleware, the pool watch and the in-process server.

Imported only once a service turns metrics on (see the package's docstring).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable

from flask import Flask, request, request_started
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.exposition import start_http_server
from sqlalchemy import event
from sqlalchemy.engine import Engine

from . import MULTIPROC_DIR, Observer

log = logging.getLogger(__name__)

#: Where the request's URL rule waits in the WSGI environ for the middleware.
ENDPOINT_KEY = "servicemetrics.endpoint"
#: The endpoint label of a request that matched no URL rule (404, 405): never the raw path,
#: which is the client's to choose and would make one time series per path tried.
UNMATCHED = "unmatched"
#: Methods counted as themselves; anything else (a client's invention) is "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Label values the services pass on from a request's notes must look like these (grant types,
#: error codes); anything else becomes "other".
_LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
#: Latency buckets (seconds): fast machine endpoints to bcrypt-bound logins.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_lock = threading.Lock()
_services: dict[str, Instruments] = {}
_served: dict[tuple[str, int], object] = {}


def bounded(value: object, default: str = "none") -> str:
    """A label value from data the service noted: kept when it looks like a code, else "other"."""
    if value is None or value == "":
        return default
    text = str(value)
    return text if _LABEL.fullmatch(text) else "other"


class Instruments:
    """One service's metrics in this process, named ``<service>_...``, in a registry of its own
    (so two services in one process, as in the tests, never share or clash)."""

    def __init__(self, service: str) -> None:
        self.service = service
        #: ``label(value)``: a noted value fit for a label (see ``bounded``).
        self.label = bounded
        self.registry = CollectorRegistry(auto_describe=True)
        self._extra: dict[str, Counter | Gauge] = {}
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by endpoint (URL rule, or 'unmatched'), method and status.",
            ["endpoint", "method", "status"],
            namespace=service,
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to handing back its response, by endpoint.",
            ["endpoint"],
            namespace=service,
            registry=self.registry,
            buckets=BUCKETS,
        )
        # Gauges per process, summed over live workers ("livesum") under gunicorn.
        self.pool_checked_out = Gauge(
            "db_pool_checked_out_connections",
            "Database connections in use (checked out of the pool), over all worker processes.",
            namespace=service,
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            "db_pool_size",
            "Connections the database pools keep (pool_size, not counting overflow), over all "
            "worker processes.",
            namespace=service,
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def counter(self, name: str, documentation: str, labels: Iterable[str] = ()) -> Counter:
        """A counter of the service's own (``<service>_<name>``), made once per process."""
        with _lock:
            metric = self._extra.get(name)
            if metric is None:
                metric = self._extra[name] = Counter(
                    name,
                    documentation,
                    list(labels),
                    namespace=self.service,
                    registry=self.registry,
                )
            return metric  # type: ignore[return-value]

    def gauge(self, name: str, documentation: str) -> Gauge:
        """A gauge of the service's own, made once per process; under gunicorn the value shown
        is the one set most recently by any live worker (it is a count of shared state)."""
        with _lock:
            metric = self._extra.get(name)
            if metric is None:
                metric = self._extra[name] = Gauge(
                    name,
                    documentation,
                    namespace=self.service,
                    registry=self.registry,
                    multiprocess_mode="livemostrecent",
                )
            return metric  # type: ignore[return-value]

    def watch_pool(self, engine: Engine) -> None:
        """Count connections in and out of ``engine``'s pool, and add its size."""
        size = getattr(engine.pool, "size", None)
        if callable(size):
            self.pool_size.inc(size())
        event.listen(engine, "checkout", self._checked_out)
        event.listen(engine, "checkin", self._checked_in)

    def _checked_out(self, dbapi_connection, record, proxy) -> None:
        self.pool_checked_out.inc()

    def _checked_in(self, dbapi_connection, record) -> None:
        self.pool_checked_out.dec()

    def render(self) -> bytes:
        """This process's values in the text format (what the in-process server answers)."""
        return generate_latest(self.registry)


def for_service(service: str) -> Instruments:
    """The service's instruments, made on first use: metric names are unique per process."""
    with _lock:
        if service not in _services:
            if os.environ.get(MULTIPROC_DIR) and not _multiprocess_storage():
                raise RuntimeError(
                    f"{MULTIPROC_DIR} is set but prometheus_client was imported before it was: "
                    "its values would stay in this worker. Set it before the first import."
                )
            _services[service] = Instruments(service)
        return _services[service]


def _multiprocess_storage() -> bool:
    return prometheus_values.ValueClass is not prometheus_values.MutexValue


def record_endpoints(app: Flask) -> None:
    """Leave the matched URL rule in the environ for the middleware: Flask clears its request
    object from the environ when the request ends. ``request_started`` comes after routing and
    before any before-request hook (throttling, CSRF) can answer."""
    request_started.connect(_note_endpoint, app, weak=False)


def _note_endpoint(sender: Flask, **extra: object) -> None:
    rule = request.url_rule
    if rule is not None:
        request.environ[ENDPOINT_KEY] = rule.rule


class RequestMetrics:
    """WSGI middleware: one count and one latency observation per request, then the service's
    own observer. Outside a gunicorn with the hooks, the first request starts the process's
    metrics server."""

    def __init__(
        self,
        app,
        instruments: Instruments,
        observe: Observer | None,
        address: tuple[str, int],
    ) -> None:
        self.app = app
        self.instruments = instruments
        self.observe = observe
        self.address = address
        self.serving = bool(os.environ.get(MULTIPROC_DIR))  # then gunicorn's master serves
        #: (endpoint, method, status) -> its counter and histogram children: ``labels()`` costs
        #: more than the counting. As bounded as the labels are.
        self._children: dict[tuple[str, str, int], tuple] = {}

    def _label(self, endpoint: str, method: str, status: int) -> tuple:
        return (
            self.instruments.requests.labels(endpoint, method, str(status)),
            self.instruments.latency.labels(endpoint),
        )

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        if not self.serving:
            self.serving = serve_in_process(self.address, self.instruments)
        started = time.perf_counter()
        answered = [500]

        def start(status: str, headers: list, exc_info=None):
            answered[0] = int(status[:3])
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            elapsed = time.perf_counter() - started
            endpoint = environ.get(ENDPOINT_KEY, UNMATCHED)
            method = environ.get("REQUEST_METHOD", "")
            if method not in METHODS:
                method = "other"
            status = answered[0]
            key = (endpoint, method, status)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = self._label(*key)
            children[0].inc()
            children[1].observe(elapsed)
            if self.observe is not None:
                self.observe(environ, endpoint, status)


def serve_in_process(address: tuple[str, int], instruments: Instruments) -> bool:
    """Serve this process's values on ``address`` from a daemon thread, once per process.
    True when served (here or already); a port taken is logged, not raised: metrics must never
    take the service down."""
    with _lock:
        if address in _served:
            return True
        host, port = address
        try:
            _served[address] = start_http_server(port, host, registry=instruments.registry)
        except OSError as error:
            log.warning(
                "metrics: cannot listen on %s:%s (%s); under gunicorn run it with "
                "--config python:authserver.gunicorn_settings so the master serves them",
                host,
                port,
                error,
            )
            _served[address] = None
        else:
            log.info("metrics on http://%s:%s/metrics", host, port)
        return True
