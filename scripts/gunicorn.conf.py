"""Gunicorn settings shared by ``make serve`` (scripts/serve.sh) and ``make bench`` (bench/).

The values live in ``authserver.gunicorn_settings`` (the installed ``authserver serve`` uses
them too); this file hands them to ``gunicorn --config``.
"""

from authserver.gunicorn_settings import worker_class, workers

__all__ = ["worker_class", "workers"]
