"""What the API asks of its database, as the database receives it: a page of events is one
statement (no ping before it, no transaction around it), and a pooled connection that sat idle
is checked before use and replaced when the server dropped it.

The API runs with its own engine settings here (the defaults for the URL), since those are
what decide pings and pools; on PostgreSQL it is pointed at the run's schema through libpq's
PGOPTIONS.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from resource_api import database
from resource_api.extensions import db

from .api_testing import bearer


class WireLog:
    """Every statement the app's connections send from now on: pysqlite's trace callback, or
    libpq's protocol trace (one entry per simple query, and per execution of a parsed one)."""

    def __init__(self, engine: sa.Engine, directory: Path) -> None:
        self.directory = directory
        self._sqlite: list[str] = []
        self._traces: list[tuple[Any, int, Path]] = []  # psycopg connection, fd, file
        self._read_from: dict[Path, int] = {}
        sa.event.listen(engine, "connect", self._watch)
        engine.dispose()  # connections made before this one are not watched: drop them

    def _watch(self, dbapi_connection: Any, record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(self._sqlite.append)
            return
        from psycopg import pq

        path = self.directory / f"libpq-{len(self._traces)}.trace"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        dbapi_connection.pgconn.trace(fd)  # libpq writes it line-buffered
        dbapi_connection.pgconn.set_trace_flags(
            pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
        )
        self._traces.append((dbapi_connection, fd, path))

    def clear(self) -> None:
        self._sqlite.clear()
        self._read_from = {path: path.stat().st_size for _, _, path in self._traces}

    def sent(self) -> list[str]:
        statements = list(self._sqlite)
        for _, _, path in self._traces:
            with path.open() as trace:
                trace.seek(self._read_from.get(path, 0))
                text = trace.read()
            # A message is "F" (sent) or "B" (received), tab, length, tab, type, tab, contents;
            # SQL with line breaks goes on over the following lines.
            messages = re.split(r"\n(?=[FB]\t)", text.rstrip("\n"))
            parsed = ""
            for message in messages:
                fields = message.split("\t", 3)
                if len(fields) < 4 or fields[0] != "F":
                    continue
                kind, contents = fields[2], fields[3].strip()
                if kind == "Query":
                    statements.append(contents.strip('"'))
                elif kind == "Parse":
                    parsed = contents.split('" "', 1)[-1]  # the SQL, after the statement name
                elif kind == "Execute":
                    statements.append(parsed)
        return statements

    def close(self) -> None:
        for connection, fd, _ in self._traces:
            if not connection.closed:
                connection.pgconn.untrace()
            os.close(fd)


@pytest.fixture
def default_pool_app(
    _app_builder: Callable[..., Flask],
    database_config: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Flask:
    """An app on the shared tables with the engine settings the API picks for its URL (and
    no ping on PostgreSQL however slowly the test runs: that one has its own test)."""
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 3600.0)
    options = database_config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}).get("options")
    if options:
        monkeypatch.setenv("PGOPTIONS", options)  # the run's schema, without engine options
    return _app_builder({"DATABASE_URL": database_config["DATABASE_URL"]}, shared_tables=True)


@pytest.fixture
def wire(default_pool_app: Flask, tmp_path: Path) -> Iterator[WireLog]:
    with default_pool_app.app_context():
        log = WireLog(db.engine, tmp_path)
    yield log
    log.close()


def _add_events(client: Any, token: str, count: int) -> None:
    for day in range(1, count + 1):
        response = client.post(
            "/api/events",
            headers=bearer(token),
            json={
                "title": f"Event {day}",
                "starts_at": f"2030-01-0{day}T09:00:00Z",
                "ends_at": f"2030-01-0{day}T10:00:00Z",
            },
        )
        assert response.status_code == 201


def test_a_page_of_events_is_one_statement_and_nothing_around_it(default_pool_app, wire, token):
    """Before: a ping (SELECT 1) before each use of a pooled connection and, on PostgreSQL,
    BEGIN and ROLLBACK around the SELECT; four round trips where one does."""
    client = default_pool_app.test_client()
    _add_events(client, token, 3)
    assert client.get("/api/events?limit=1", headers=bearer(token)).status_code == 200

    wire.clear()
    response = client.get("/api/events?limit=1", headers=bearer(token))

    assert response.status_code == 200
    page = response.get_json()
    assert [event["title"] for event in page["items"]] == ["Event 1"]
    assert page["next_cursor"]
    sent = wire.sent()
    assert len(sent) == 1, sent
    assert sent[0].startswith("SELECT") and "FROM events" in sent[0]

    wire.clear()
    following = client.get(
        "/api/events", headers=bearer(token), query_string={"cursor": page["next_cursor"]}
    )
    assert [event["title"] for event in following.get_json()["items"]] == ["Event 2", "Event 3"]
    assert len(wire.sent()) == 1


def test_the_profile_reads_nothing_from_the_database(default_pool_app, wire, token):
    client = default_pool_app.test_client()
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    wire.clear()
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert wire.sent() == []


def test_a_connection_idle_past_the_bound_is_checked_and_replaced_when_dead(
    _app_builder, database_config, monkeypatch, token
):
    """The ping that replaces pool_pre_ping: a connection the server dropped while it sat in
    the pool is found out before a request uses it, not by the request's failure."""
    if not database_config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("a SQLite file has no connection to lose, and is never pinged")
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.0)  # every reuse counts as idle
    monkeypatch.setenv(
        "PGOPTIONS", database_config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"]
    )
    app = _app_builder({"DATABASE_URL": database_config["DATABASE_URL"]}, shared_tables=True)
    client = app.test_client()
    assert client.get("/api/events", headers=bearer(token)).status_code == 200
    with app.app_context():
        pooled = db.engine.raw_connection()
        backend = pooled.dbapi_connection.info.backend_pid
        pooled.close()  # back to the pool, where the server now drops it

    admin = sa.create_engine(database_config["DATABASE_URL"])
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    finally:
        admin.dispose()

    response = client.get("/api/events", headers=bearer(token))
    assert response.status_code == 200
    with app.app_context():
        replacement = db.engine.raw_connection()
        assert replacement.dbapi_connection.info.backend_pid != backend
        replacement.close()
