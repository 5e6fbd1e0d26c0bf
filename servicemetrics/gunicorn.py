"""Gunicorn server hooks: metrics of every worker, summed, served once by the master.

``GunicornHooks(services)`` gives the hooks a gunicorn config module exports (see
``authserver/gunicorn_settings.py``). Which service a master runs, and so which
``<PREFIX>_METRICS_ADDRESS`` it reads, comes from the WSGI app it was given
(``authserver:create_app()``, ``wsgi:api_app``, ...): two services started side by side each
serve their own metrics on their own address, from their own directory.

- ``on_starting`` (master, before any worker): a fresh ``PROMETHEUS_MULTIPROC_DIR`` for this
  master, so nothing of an earlier run or of the other service is counted;
- ``when_ready`` (master): the metrics HTTP server, a daemon thread reading that directory;
- ``post_fork`` (worker): closes the worker's copy of the metrics socket;
- ``child_exit`` (master): a dead worker's live gauges stop counting;
- ``on_exit`` (master): the directory goes.

With the service's address unset every hook does nothing. prometheus_client is imported only
after the directory is set: it picks its storage at import.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

from . import MULTIPROC_DIR, address_from_environment


class GunicornHooks:
    def __init__(self, services: Mapping[str, str]) -> None:
        #: WSGI app (``module:attribute``) or module -> its settings prefix (``AUTHSERVER``).
        self.services = dict(services)
        self.address: tuple[str, int] | None = None
        self.directory: str | None = None
        self.httpd: Any = None

    def prefix(self, server) -> str | None:
        uri = getattr(server.app, "app_uri", None) or server.cfg.wsgi_app or ""
        return self.services.get(uri) or self.services.get(uri.split(":", 1)[0])

    def on_starting(self, server) -> None:
        prefix = self.prefix(server)
        if prefix is None:
            return
        self.address = address_from_environment(dict(os.environ), f"{prefix}_METRICS_ADDRESS")
        if self.address is None:
            return
        self.directory = tempfile.mkdtemp(prefix=f"{prefix.lower()}-metrics-")
        # Inherited by every worker forked from here on; this master's own, whatever another
        # service's master (or the operator's shell) set.
        os.environ[MULTIPROC_DIR] = self.directory

    def when_ready(self, server) -> None:
        if self.address is None:
            return
        from .exposition import serve_multiprocess  # after MULTIPROC_DIR: see the docstring

        host, port = self.address
        self.httpd = serve_multiprocess(host, port)
        server.log.info("metrics on http://%s:%s/metrics", host, port)

    def post_fork(self, server, worker) -> None:
        if self.httpd is not None:
            self.httpd.socket.close()  # the master's listener; this worker never accepts on it

    def child_exit(self, server, worker) -> None:
        if self.directory is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(worker.pid)

    def on_exit(self, server) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
