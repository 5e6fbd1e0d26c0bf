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
"""

import os
import sys

import resource_api.config
from authserver.config import check_environment as check_authserver
from configrules import SettingError
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


when_ready = _metrics.when_ready
post_fork = _metrics.post_fork
child_exit = _metrics.child_exit
on_exit = _metrics.on_exit
