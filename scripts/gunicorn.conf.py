"""Gunicorn settings shared by ``make serve`` (scripts/serve.sh) and ``make bench`` (bench/).

The values live in ``authserver.gunicorn_settings`` (the installed ``authserver serve`` uses
them too); this file hands them to ``gunicorn --config``, metrics hooks included.
"""

from authserver.gunicorn_settings import (
    child_exit,
    on_exit,
    on_starting,
    post_fork,
    post_worker_init,
    when_ready,
    worker_class,
    workers,
)

__all__ = [
    "child_exit",
    "on_exit",
    "on_starting",
    "post_fork",
    "post_worker_init",
    "when_ready",
    "worker_class",
    "workers",
]
