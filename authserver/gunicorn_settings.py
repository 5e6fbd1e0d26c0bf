"""Gunicorn's worker model and server hooks for ``authserver serve``, ``make serve`` and
``make bench``, for both services.

The one place for it (``authserver serve`` passes ``--config python:authserver.gunicorn_settings``
and scripts/gunicorn.conf.py re-exports it), so the benchmark measures what ``make serve`` runs.
``GUNICORN_WORKERS`` overrides the worker count for all of them.

The hooks serve Prometheus metrics from the master when the service's ``*_METRICS_ADDRESS`` is
set (``servicemetrics.gunicorn``); the service is told by its WSGI app.
"""

import os

from servicemetrics.gunicorn import GunicornHooks

workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "sync"

_metrics = GunicornHooks(
    {
        "authserver": "AUTHSERVER",
        "wsgi:auth_app": "AUTHSERVER",
        "resource_api": "RESOURCE_API",
        "wsgi:api_app": "RESOURCE_API",
    }
)
on_starting = _metrics.on_starting
when_ready = _metrics.when_ready
post_fork = _metrics.post_fork
child_exit = _metrics.child_exit
on_exit = _metrics.on_exit
