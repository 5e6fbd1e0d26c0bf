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
def served(wsgi_app) -> Iterator[str]:
    server = make_server("127.0.0.1", free_port(), wsgi_app, threaded=True)
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
