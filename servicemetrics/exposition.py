"""The gunicorn master's metrics server: every worker's files in ``PROMETHEUS_MULTIPROC_DIR``,
summed (gauges per their ``multiprocess_mode``). Imported only once that variable is set."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import start_http_server
from prometheus_client.multiprocess import MultiProcessCollector


def serve_multiprocess(host: str, port: int):
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    httpd, _thread = start_http_server(port, host, registry=registry)
    return httpd
