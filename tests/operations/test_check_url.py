"""`authserver check --url`: a running node checked over HTTP (issue 19, item 8), read-only,
saying plainly what it could not see. The node is the test's app served by werkzeug in a thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask, jsonify
from sqlalchemy import func, select
from werkzeug.serving import make_server

from authserver.extensions import db
from authserver.models import AuditEvent, SigningKey
from tests.processes import free_port


@contextmanager
def served(wsgi_app, port: int | None = None) -> Iterator[str]:
    server = make_server("127.0.0.1", port or free_port(), wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def check(app, *args: str):
    result = app.test_cli_runner().invoke(args=["check", "--json", *args])
    # The served node's request lines land on the same (captured) stdout: take the answer's.
    (answer,) = [line for line in result.output.splitlines() if line.startswith('{"ok"')]
    return result.exit_code, json.loads(answer)


def by_item(body: dict) -> dict[str, dict]:
    return {c["item"]: c for c in body["checks"]}


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(SigningKey)),
            db.session.scalar(select(func.count()).select_from(AuditEvent)),
        )


def test_a_healthy_node_passes_and_says_what_it_did_not_see(app):
    before = _counts(app)
    with served(app) as url:
        code, body = check(app, "--url", url)
    assert code == 0 and body["ok"] is True, body
    items = by_item(body)
    for item in ("node liveness", "node readiness"):
        assert items[item]["status"] == "pass", items[item]
    assert items["node discovery"]["status"] == "warn"  # the test issuer is http on loopback
    assert "issuer http://" in items["node discovery"]["detail"]
    assert items["node JWKS"]["status"] == "pass"
    assert items["node JWKS"]["detail"].startswith(f"1 published key(s) at {url}/oauth/jwks")
    assert items["node metrics"]["status"] == "skip"
    assert "--metrics" in items["node metrics"]["detail"]
    assert items["node settings"]["status"] == "skip"
    assert _counts(app) == before  # read-only: no key made, nothing recorded


def test_a_node_nobody_answers_for_fails_every_item_it_could_not_see(app):
    closed = f"http://127.0.0.1:{free_port()}"
    code, body = check(app, "--url", closed, "--metrics", f"127.0.0.1:{free_port()}")
    assert code == 1 and body["ok"] is False
    items = by_item(body)
    for item in ("node liveness", "node readiness", "node discovery", "node metrics"):
        assert items[item]["status"] == "fail", items[item]
        assert items[item]["detail"].startswith("could not reach"), items[item]
    assert items["node JWKS"]["status"] == "skip"  # never learned where it is


def test_a_node_that_is_not_ready_fails_with_its_reason():
    node = Flask("not_ready")
    node.get("/healthz", endpoint="healthz")(lambda: jsonify(status="ok"))
    node.get("/readyz", endpoint="readyz")(
        lambda: (jsonify(status="unavailable", reason="database unreachable"), 503)
    )
    checker = _checker_app()
    with served(node) as url:
        code, body = check(checker, "--url", url)
    items = by_item(body)
    assert code == 1
    assert items["node liveness"]["status"] == "pass"
    assert items["node readiness"] == {
        "item": "node readiness",
        "status": "fail",
        "detail": "/readyz answered 503: reason: database unreachable",
    }
    assert items["node discovery"]["status"] == "fail"  # a 404 there is no metadata


def test_a_degraded_node_is_a_warning_naming_what_is_degraded():
    node = Flask("degraded")
    node.get("/healthz", endpoint="healthz")(lambda: jsonify(status="ok"))
    node.get("/readyz", endpoint="readyz")(
        lambda: jsonify(status="degraded", throttling="per-process memory")
    )
    with served(node) as url:
        _, body = check(_checker_app(), "--url", url)
    readiness = by_item(body)["node readiness"]
    assert readiness["status"] == "warn" and "throttling: per-process memory" in readiness["detail"]


def test_the_metrics_address_is_checked_when_given(app, tmp_path):
    metrics = Flask("metrics")
    metrics.get("/metrics", endpoint="metrics")(
        lambda: "# TYPE authserver_http_requests_total counter\n"
    )
    elsewhere = Flask("elsewhere")
    elsewhere.get("/metrics", endpoint="metrics")(lambda: "something_else 1\n")
    with served(app) as url, served(metrics) as good, served(elsewhere) as bad:
        _, body = check(app, "--url", url, "--metrics", good.removeprefix("http://"))
        assert by_item(body)["node metrics"]["status"] == "pass"
        _, body = check(app, "--url", url, "--metrics", bad.removeprefix("http://"))
        assert by_item(body)["node metrics"]["status"] == "fail"


@pytest.mark.parametrize("args", [["--url", "node:5000"], ["--metrics", "127.0.0.1:9100"]])
def test_misuse_is_a_usage_error(app, args):
    result = app.test_cli_runner().invoke(args=["check", *args])
    assert result.exit_code == 2


_CHECKER: Flask | None = None


def _checker_app() -> Flask:
    """An app to run the command in, for nodes that are not one (never touches a database)."""
    from authserver import create_app

    global _CHECKER
    if _CHECKER is None:
        _CHECKER = create_app(
            {"TESTING": True, "DATABASE_URL": "sqlite://", "SMTP_URL": "smtp://127.0.0.1:9"}
        )
    return _CHECKER


def _resource_server(resource: str, issuer: str, *, names_metadata: bool = True) -> Flask:
    """A resource server the way an MCP server is one: its identifier has a path, which a
    request without a token answers with a challenge naming the RFC 9728 document."""
    from urllib.parse import urlsplit

    path = urlsplit(resource).path
    stand_in = Flask("resource")

    @stand_in.get(f"/.well-known/oauth-protected-resource{path}")
    def metadata():
        return jsonify(
            resource=resource, authorization_servers=[issuer], bearer_methods_supported=["header"]
        )

    @stand_in.get(path)
    def protected():
        challenge = "Bearer"
        if names_metadata:
            origin = resource[: -len(path)]
            challenge += f' resource_metadata="{origin}/.well-known/oauth-protected-resource{path}"'
        return jsonify(error="invalid_token"), 401, {"WWW-Authenticate": challenge}

    return stand_in


def test_a_resource_server_is_checked_against_rfc_9728(app):
    issuer = app.config["ISSUER"]
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    with served(_resource_server(resource, issuer), port):
        with served(app) as url:
            code, body = check(app, "--url", url, "--resource", resource)
        offline_code, offline = check(app, "--resource", resource)
    assert code == 0, body
    items = by_item(body)
    assert items[f"resource metadata (RFC 9728) {resource}"]["status"] == "pass"
    assert items[f"resource challenge {resource}"]["status"] == "pass"
    assert items["metadata (RFC 8414)"]["status"] == "pass"
    assert offline_code == 0, offline
    assert by_item(offline)[f"resource metadata (RFC 9728) {resource}"]["status"] == "pass"


def test_a_resource_server_that_does_not_name_its_metadata_or_this_issuer_fails(app):
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    stand_in = _resource_server(resource, "https://elsewhere.example", names_metadata=False)
    with served(stand_in, port):
        code, body = check(app, "--resource", resource)
    assert code == 1
    items = by_item(body)
    metadata = items[f"resource metadata (RFC 9728) {resource}"]
    assert metadata["status"] == "fail" and "does not name this issuer" in metadata["detail"]
    challenge = items[f"resource challenge {resource}"]
    assert challenge["status"] == "fail" and "resource_metadata" in challenge["detail"]


def test_the_resource_api_metadata_passes(app, tmp_path):
    """The real resource API: its document passes; its root is no protected path, so the
    challenge is honestly not checked rather than passed."""
    from resource_api import create_app as create_api

    port = free_port()
    audience = f"http://127.0.0.1:{port}"
    api = create_api(
        {
            "TESTING": True,
            "ISSUER": app.config["ISSUER"],
            "AUDIENCE": audience,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'api.sqlite3'}",
        }
    )
    with served(api, port):
        code, body = check(app, "--resource", audience)
    assert code == 0, body
    items = by_item(body)
    assert items[f"resource metadata (RFC 9728) {audience}"]["status"] == "pass"
    assert items[f"resource challenge {audience}"]["status"] == "skip"
