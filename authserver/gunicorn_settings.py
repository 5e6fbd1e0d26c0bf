"""Gunicorn's worker model for ``authserver serve``, ``make serve`` and ``make bench``.

The one place for it (scripts/gunicorn.conf.py imports it), so the benchmark measures what
``make serve`` runs. ``GUNICORN_WORKERS`` overrides the worker count for all of them.
"""

import os

workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "sync"
