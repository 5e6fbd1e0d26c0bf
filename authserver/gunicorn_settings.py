"""Gunicorn's worker model and server hooks for ``authserver serve``, ``make serve`` and
``make bench``, for both services: ``gunicorn -c python:authserver.gunicorn_settings APP``.

The one place for it (``authserver serve`` passes ``--config python:authserver.gunicorn_settings``
and scripts/gunicorn.conf.py re-exports it), so the benchmark measures what ``make serve`` runs.
``GUNICORN_WORKERS`` overrides the worker count for all of them.

Before any worker starts, the master checks the served service's settings as its app will
(``check_environment``): a setting out of range stops gunicorn with that one line, instead of
every worker dying on the same traceback. The hooks also serve Prometheus metrics from the master
when the service's ``*_METRICS_ADDRESS`` is set (``servicemetrics.gunicorn``); the service is told
by its WSGI app.

Gunicorn's own lines (the master's "Listening at", "Booting worker", a worker's timeout) are
written as the services' are, JSON lines on stdout (``logconfig_dict``, with ``jsonlog``'s
handler and formatter), so one log stream holds one format. Until the master knows which app it
serves they name the service ``gunicorn``; ``ServiceLogger`` (gunicorn's documented
``logger_class``, which sets its logging up from the config before the first line) then gives
them the service's name and its ``*_LOG_FORMAT``. A worker's app installs its own handler on
``gunicorn.error`` in place of this one (``jsonlog.configure_logging``), in the same shape.
"""

import gc
import logging
import os
import sys

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

import resource_api.config
from authserver.config import check_environment as check_authserver
from configrules import SettingError
from jsonlog import JsonFormatter, TextFormatter
from servicemetrics.gunicorn import GunicornHooks

workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "sync"

#: WSGI app (``module:attribute``) or module -> its settings prefix.
SERVICES = {
    "authserver": "AUTHSERVER",
    "authserver.wsgi": "AUTHSERVER",
    "wsgi:auth_app": "AUTHSERVER",
    "resource_api": "RESOURCE_API",
    "resource_api.wsgi": "RESOURCE_API",
    "wsgi:api_app": "RESOURCE_API",
}
#: Each service's check of its settings, by prefix.
CHECKS = {
    "AUTHSERVER": check_authserver,
    "RESOURCE_API": resource_api.config.check_environment,
}

_metrics = GunicornHooks(SERVICES)

#: The service name in gunicorn's lines, by settings prefix (as each app names itself).
SERVICE_NAMES = {"AUTHSERVER": "authserver", "RESOURCE_API": "resource_api"}

# Gunicorn merges this over its defaults key by key: every key it has is given, so none of its
# plain-text handlers survives. The root logger gets no handler, as without this (each app's
# records reach stdout through the app's own handler; one on the root would print them twice).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "WARNING", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["json_stdout"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["json_stdout"], "propagate": False},
    },
    "handlers": {
        "json_stdout": {
            "class": "jsonlog.StdoutHandler",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "filters": {"request_id": {"()": "jsonlog.RequestIdFilter"}},
    "formatters": {"json": {"()": "jsonlog.JsonFormatter", "service": "gunicorn"}},
}


def _name_the_service(prefix: str) -> None:
    """Gunicorn's handlers write as the service they serve: its name, its ``*_LOG_FORMAT``."""
    service = SERVICE_NAMES[prefix]
    text = os.environ.get(f"{prefix}_LOG_FORMAT", "json").strip().lower() == "text"
    formatter = TextFormatter(service) if text else JsonFormatter(service)
    for name in ("gunicorn.error", "gunicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler.formatter, JsonFormatter):
                handler.setFormatter(formatter)


class ServiceLogger(Logger):
    """Gunicorn's logger, its lines written as the service's (``logconfig_dict``, then the name)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        uri = cfg.wsgi_app or cfg.default_proc_name or ""
        prefix = SERVICES.get(uri) or SERVICES.get(uri.split(":", 1)[0])
        if prefix is not None:
            _name_the_service(prefix)


logger_class = ServiceLogger


def on_starting(server) -> None:
    check = CHECKS.get(_metrics.prefix(server) or "")
    if check is not None:
        try:
            check()
        except SettingError as error:
            # One line and gunicorn's "app failed to load" status; no worker is started.
            print(f"Error: {error}", file=sys.stderr)
            raise SystemExit(4) from None
    _metrics.on_starting(server)


def post_worker_init(worker) -> None:
    """Once the worker has made its app: everything made so far (modules, the app, its
    caches) is moved out of the garbage collector's reach (``gc.freeze``). It lives as long as
    the process, and otherwise each full collection would walk all of it again, pausing
    whichever request triggered it for milliseconds: the tail of every endpoint's latency."""
    gc.collect()
    gc.freeze()


when_ready = _metrics.when_ready
post_fork = _metrics.post_fork
child_exit = _metrics.child_exit
on_exit = _metrics.on_exit
