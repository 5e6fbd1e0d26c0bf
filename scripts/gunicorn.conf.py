"""Gunicorn settings shared by ``make serve`` (scripts/serve.sh) and ``make bench`` (bench/).

One place for the worker model, so the benchmark measures what ``make serve`` runs.
``GUNICORN_WORKERS`` overrides the worker count for both.
"""

import os

workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "sync"
