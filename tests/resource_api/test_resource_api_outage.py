"""The API's database going away: 503 with Retry-After and a JSON error (never a traceback),
``/readyz`` says so, and the same app answers again once the database is back (issue 19, item 5;
the server's own behaviour is tested in tests/operations/test_faults_postgresql.py).

On SQLite the file's folder is moved away (new connections cannot open it) and back; on
PostgreSQL the connections go through a TCP proxy the test cuts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url

from resource_api.extensions import db
from tests.databases import DEFAULT_POSTGRES_URL, drop_postgres_schema, required_postgres_schema
from tests.tcp_proxy import TcpProxy

from .api_testing import bearer

EVENT = {"title": "Dentist", "starts_at": "2030-01-02T10:00:00Z", "ends_at": "2030-01-02T11:00:00Z"}


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.data
    body = response.get_json()
    assert body["error"] == "temporarily_unavailable"
    assert "database" in body["error_description"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert 1 <= int(response.headers["Retry-After"]) <= 30
    assert response.headers["Cache-Control"] == "no-store"


def _outage_and_recovery(app: Flask, token: str, cut: Callable[[], None], mend: Callable[[], None]):
    http = app.test_client()
    created = http.post("/api/events", json=EVENT, headers=bearer(token))
    assert created.status_code == 201, created.data
    assert http.get("/readyz").get_json() == {"status": "ok"}

    cut()
    assert_unavailable(http.get("/api/events", headers=bearer(token)))
    assert_unavailable(http.post("/api/events", json=EVENT, headers=bearer(token)))
    ready = http.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "unavailable", "reason": "database unreachable"}
    assert http.get("/healthz").status_code == 200  # the process itself is fine

    mend()  # the same app object, no restart
    assert http.get("/readyz").status_code == 200
    listed = http.get("/api/events", headers=bearer(token))
    assert listed.status_code == 200
    # The write refused during the outage left nothing behind.
    assert [e["title"] for e in listed.get_json()["items"]] == ["Dentist"]


def test_healthz_and_readyz_need_no_token(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ok"}


def test_a_sqlite_file_that_cannot_be_opened_answers_503_and_heals(
    _app_builder, tmp_path: Path, token: str
):
    folder = tmp_path / "data"
    folder.mkdir()
    app = _app_builder(
        {"DATABASE_URL": f"sqlite:///{folder / 'api.sqlite3'}", "SQLALCHEMY_ENGINE_OPTIONS": {}},
        shared_tables=False,
    )
    with app.app_context():
        db.create_all()
    away = tmp_path / "elsewhere"

    def cut() -> None:
        folder.rename(away)
        with app.app_context():
            db.engine.dispose()  # open connections would keep the moved file

    def mend() -> None:
        away.rename(folder)

    _outage_and_recovery(app, token, cut, mend)


def test_a_refused_query_is_still_a_500_not_an_outage(app, client, token):
    """A missing table is a bug to see, not a database to wait for."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the handler answers
    with app.app_context():
        db.session.execute(sa.text("DROP TABLE events"))
        db.session.commit()
    try:
        response = client.get("/api/events", headers=bearer(token))
        assert response.status_code == 500
        assert response.get_json()["error"] == "server_error"
        assert "Traceback" not in response.get_data(as_text=True)
    finally:
        with app.app_context():
            db.create_all()


@pytest.fixture
def proxied_postgres() -> Iterator[tuple[TcpProxy, dict[str, Any]]]:
    url = os.environ.get("RESOURCE_API_DATABASE_URL") or DEFAULT_POSTGRES_URL
    if not url.startswith("postgresql"):
        url = DEFAULT_POSTGRES_URL
    schema = required_postgres_schema(url)
    direct = make_url(url)
    with TcpProxy(direct.host or "127.0.0.1", direct.port or 5432) as proxy:
        proxied = direct.set(host="127.0.0.1", port=proxy.port)
        yield (
            proxy,
            {
                "DATABASE_URL": proxied.render_as_string(hide_password=False),
                "SQLALCHEMY_ENGINE_OPTIONS": {
                    "connect_args": {"options": f"-csearch_path={schema}", "connect_timeout": 2}
                },
            },
        )
    drop_postgres_schema(url, schema)


@pytest.mark.postgresql
def test_a_cut_postgresql_answers_503_and_heals(proxied_postgres, _app_builder, token):
    proxy, settings = proxied_postgres
    app = _app_builder(settings, shared_tables=False)
    with app.app_context():
        db.create_all()

    def cut() -> None:
        proxy.refuse()
        proxy.drop_all()

    _outage_and_recovery(app, token, cut, proxy.accept)
    with app.app_context():
        db.engine.dispose()  # pooled connections the cut killed (pinged only after 1 s idle)
