"""Prometheus metrics for both services, served on an address of their own, never the public port.

Off unless a service's ``METRICS_ADDRESS`` (``host:port``) is set. Then ``init_app`` wraps the
app in a middleware that counts each request by endpoint (Flask's URL rule such as
``/oauth/token``, or ``unmatched``: never the raw path, so the label set stays bounded), method
and status and times it by endpoint; it watches the database pool, and the service adds counters
of its own (``Instruments.counter``). With the setting unset nothing is wrapped, hooked or even
imported: the request path pays nothing.

Two ways of serving:

- under gunicorn with ``servicemetrics.gunicorn``'s hooks, every worker writes its values to
  files in a per-service ``PROMETHEUS_MULTIPROC_DIR`` and the master serves their sum;
- elsewhere (``flask run``, tests) the process serves its own values from a daemon thread,
  started by the first request (so CLI commands, which make the app too, never bind the port).

This module imports no ``prometheus_client``: that library picks single- or multi-process
storage when it is first imported, which must happen after gunicorn's master has set
``PROMETHEUS_MULTIPROC_DIR`` (both services' packages are imported in the master, to load their
gunicorn settings). ``instruments`` holds everything that needs it.

Shared by the authorization server and the resource API (which never imports the server).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from .instruments import Instruments

#: The environment variable prometheus_client reads; set by the gunicorn hooks, per service.
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

#: What ``observe`` is called with after each response: the WSGI environ, the endpoint label
#: and the status code.
Observer = Callable[[dict, str, int], None]


class MetricsConfigError(RuntimeError):
    """A metrics address that cannot be used."""


def parse_address(value: Any, setting: str) -> tuple[str, int] | None:
    """``host:port`` (``[::1]:9100`` for IPv6) as (host, port); None when unset or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        host, sep, port = value.strip().rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if sep and host and port.isdigit() and 0 < int(port) < 65536:
            return host, int(port)
    raise MetricsConfigError(f"{setting} must be host:port (e.g. 127.0.0.1:9100), not {value!r}.")


def address_from_environment(environ: dict[str, str], setting: str) -> tuple[str, int] | None:
    """The address as the app will read it: Flask's ``from_prefixed_env`` parses JSON first."""
    raw = environ.get(setting)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return parse_address(value, setting)


def exposure(host: str) -> str:
    """Who can reach a listener on ``host``: "loopback", "private", "everywhere" (0.0.0.0 and
    other unspecified addresses), "public", or "unknown" (a host name other than localhost)."""
    if host == "localhost":
        return "loopback"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "unknown"
    if address.is_unspecified:
        return "everywhere"
    if address.is_loopback:
        return "loopback"
    if address.is_private or address.is_link_local:
        return "private"
    return "public"


def init_app(
    app: Flask,
    service: str,
    setting: str,
    *,
    observe: Callable[[Instruments], Observer | None] | None = None,
) -> Instruments | None:
    """Turn metrics on for ``app`` when its ``METRICS_ADDRESS`` is set; None (and nothing done)
    otherwise. ``service`` is the metric names' prefix (``authserver_http_requests_total``);
    ``setting`` the environment variable's name, for messages; ``observe(instruments)`` may
    return a function called after each response (see ``Observer``)."""
    address = parse_address(app.config.get("METRICS_ADDRESS"), setting)
    if address is None:
        return None
    # Imported only now (see the module's docstring): importing this package must not import
    # prometheus_client, or gunicorn's workers would inherit single-process storage.
    from . import instruments

    metrics = instruments.for_service(service)
    observer = observe(metrics) if observe is not None else None
    # Flask's documented way to add WSGI middleware; its types declare wsgi_app a plain method.
    app.wsgi_app = instruments.RequestMetrics(  # type: ignore[method-assign]
        app.wsgi_app, metrics, observer, address
    )
    instruments.record_endpoints(app)
    return metrics
