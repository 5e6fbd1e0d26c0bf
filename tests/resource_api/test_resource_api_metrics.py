"""The resource API's metrics (in one process; tests/end_to_end/test_metrics_served.py runs it
under gunicorn): its requests, and each fetch of the issuer's JWKS by outcome."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from servicemetrics.instruments import RequestMetrics, for_service
from tests.processes import free_port

from .api_testing import ISSUER, bearer


@pytest.fixture(scope="module")
def metrics_address() -> str:
    return f"127.0.0.1:{free_port()}"


def value(name: str, **labels: str) -> float:
    return for_service("resource_api").registry.get_sample_value(name, labels) or 0.0


def test_off_by_default(app):
    assert app.config["METRICS_ADDRESS"] is None
    assert not isinstance(app.wsgi_app, RequestMetrics)


def test_a_jwks_fetch_and_the_request_are_counted_and_served(make_app, token, metrics_address):
    app = make_app(METRICS_ADDRESS=metrics_address)
    fetched = value("resource_api_jwks_fetches_total", outcome="ok")
    labels = {"endpoint": "/api/me", "method": "GET", "status": "200"}
    answered = value("resource_api_http_requests_total", **labels)
    client = app.test_client()
    for _ in range(2):  # the second request uses the cached keys
        assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert value("resource_api_jwks_fetches_total", outcome="ok") == fetched + 1
    assert value("resource_api_http_requests_total", **labels) == answered + 2

    text = requests.get(f"http://{metrics_address}/metrics", timeout=5).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    served = families["resource_api_jwks_fetches"].samples
    assert sum(s.value for s in served if s.labels.get("outcome") == "ok") >= 1
    assert client.get("/metrics").status_code == 404


def test_a_failed_jwks_fetch_is_an_error(make_app, token, issuer, metrics_address):
    issuer.metadata_overrides["jwks_uri"] = ISSUER + "/no-keys-here"
    app = make_app(METRICS_ADDRESS=metrics_address)
    failed = value("resource_api_jwks_fetches_total", outcome="error")
    fetched = value("resource_api_jwks_fetches_total", outcome="ok")
    assert app.test_client().get("/api/me", headers=bearer(token)).status_code == 503
    assert value("resource_api_jwks_fetches_total", outcome="error") == failed + 1
    assert value("resource_api_jwks_fetches_total", outcome="ok") == fetched
