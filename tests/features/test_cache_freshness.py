"""The caches' freshness check: the version stamps are read at most once per
CACHE_CHECK_INTERVAL per process, and what was cached stays in use while they cannot be read.

(What a warm request costs, and changes crossing processes within the interval, are in
``test_machine_paths.py``; the same over a real outage of PostgreSQL in
``test_faults_postgresql.py``.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import event

from authserver import create_app
from authserver.config import cache_check_interval
from authserver.extensions import db
from tests import factories
from tests.helpers import client_credentials_token


class Outage:
    """Cuts the app's database off: every new connection fails, as when its server is down (the
    pool's idle connections are closed first); counts the attempts."""

    def __init__(self, app: Flask) -> None:
        with app.app_context():
            self.engine = db.engine
        self.attempts = 0

    def _refuse(self, *args, **kwargs):
        self.attempts += 1
        raise sqlite3.OperationalError("unable to open database file")

    def start(self) -> None:
        self.engine.dispose()
        event.listen(self.engine, "do_connect", self._refuse)

    def end(self) -> None:
        if event.contains(self.engine, "do_connect", self._refuse):
            event.remove(self.engine, "do_connect", self._refuse)


@pytest.fixture
def outage(app: Flask) -> Iterator[Outage]:
    cut = Outage(app)
    if cut.engine.dialect.name != "sqlite":
        pytest.skip("simulated on SQLite; PostgreSQL's real outage: test_faults_postgresql.py")
    yield cut
    cut.end()


@pytest.fixture
def service(app: Flask) -> factories.ClientInfo:
    with app.app_context():
        return factories.make_service_client()


def test_the_jwks_keeps_answering_with_the_keys_it_has_while_the_database_is_away(
    app, client, service, fake_clock, outage
):
    warm = client.get("/oauth/jwks")
    http = app.test_client()
    client_credentials_token(http, service)
    outage.start()
    fake_clock.advance(app.config["CACHE_CHECK_INTERVAL"])  # time to read the stamps again

    during = client.get("/oauth/jwks")
    assert outage.attempts == 1  # it did try
    assert during.status_code == 200
    assert (during.data, during.headers["ETag"]) == (warm.data, warm.headers["ETag"])
    assert client.get("/readyz").status_code == 503


def test_while_the_database_is_away_the_stamps_are_tried_once_an_interval(
    app, client, fake_clock, outage, caplog
):
    interval = app.config["CACHE_CHECK_INTERVAL"]
    warm = client.get("/oauth/jwks").data
    outage.start()
    for _ in range(3):
        fake_clock.advance(interval)
        tried = outage.attempts
        for _ in range(4):
            assert client.get("/oauth/jwks").data == warm
        assert outage.attempts == tried + 1
    unreadable = [r for r in caplog.records if r.name == "authserver.caches"]
    assert [r.levelname for r in unreadable] == ["WARNING"]  # said once, not per attempt

    outage.end()
    fake_clock.advance(interval)
    assert client.get("/oauth/jwks").data == warm
    assert [r.getMessage() for r in caplog.records if r.name == "authserver.caches"][1:] == [
        "cache versions readable again"
    ]


@pytest.mark.parametrize("value", ["abc", -1, "-0.5", True, "nan", "inf", 61, "100", [1], None])
def test_a_bad_cache_check_interval_stops_the_start_with_a_clear_error(value):
    with pytest.raises(RuntimeError, match="AUTHSERVER_CACHE_CHECK_INTERVAL must be a number"):
        cache_check_interval(value)


@pytest.mark.parametrize(("value", "seconds"), [(1, 1.0), ("0.25", 0.25), (0, 0.0), ("60", 60.0)])
def test_good_cache_check_intervals(value, seconds):
    assert cache_check_interval(value) == seconds


def test_the_cache_check_interval_is_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTHSERVER_CACHE_CHECK_INTERVAL", "0.5")
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path)})
    assert app.config["CACHE_CHECK_INTERVAL"] == 0.5
    monkeypatch.setenv("AUTHSERVER_CACHE_CHECK_INTERVAL", "soon")
    with pytest.raises(RuntimeError, match="not 'soon'"):
        create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path)})
