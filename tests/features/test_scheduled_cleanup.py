"""AUTHSERVER_CLEANUP_INTERVAL (SPEC): with it set, the server deletes expired rows by itself.

A thread per process, started by the process's first request (never before: gunicorn's master
forks after making the app), every interval with jitter, in an app context of its own; errors
are logged and it carries on. Unset, nothing runs. Under gunicorn on several nodes:
``tests/operations/test_nodes_postgresql.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from authserver import create_app, scheduled
from authserver.config import cleanup_interval
from authserver.extensions import db
from authserver.models import AccessToken
from authserver.services import cleanup
from tests import factories
from tests.helpers import client_credentials_token

INTERVAL = 0.1


def cleanup_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "authserver-cleanup" and t.is_alive()]


def access_tokens(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AccessToken))


def wait_for(condition, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def app_config() -> dict:
    return {"CLEANUP_INTERVAL": INTERVAL}


@pytest.fixture
def scheduled_app(app: Flask) -> Iterator[Flask]:
    """The app with the interval set; its thread stopped before the tables are emptied."""
    yield app
    scheduled.stop(app)


@pytest.fixture
def expired_token(scheduled_app: Flask, fake_clock) -> None:
    """One access token, past its expiry by the server's clock."""
    with scheduled_app.app_context():
        service = factories.make_service_client()
    client_credentials_token(scheduled_app.test_client(), service)
    assert access_tokens(scheduled_app) == 1
    fake_clock.advance(3600)


def test_nothing_starts_before_the_process_serves_a_request(scheduled_app):
    """gunicorn's master may make the app (``--preload``) and then fork: a thread started
    there would not exist in the workers. The first request a process serves starts it."""
    assert cleanup_threads() == []
    assert scheduled_app.test_client().get("/healthz").status_code == 200
    assert len(cleanup_threads()) == 1


def test_expired_rows_go_without_anyone_running_cleanup(scheduled_app, expired_token, caplog):
    caplog.set_level(logging.INFO, logger="authserver.cleanup")
    assert scheduled_app.test_client().get("/healthz").status_code == 200

    assert len(cleanup_threads()) == 1
    assert wait_for(lambda: access_tokens(scheduled_app) == 0)
    assert wait_for(lambda: any(r.fields["access_tokens"] == 1 for r in _lines(caplog)))
    (first,) = [r for r in _lines(caplog) if r.fields["access_tokens"] == 1]
    # Besides the token, maybe the run's own claim on the window, once that has ended.
    assert first.fields["total"] == 1 + first.fields["rate_limit_counters"]
    assert first.getMessage() == f"scheduled cleanup removed {first.fields['total']} rows"


def _lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "authserver.cleanup" and hasattr(r, "fields")]


def test_one_thread_per_process_however_many_requests(scheduled_app):
    http = scheduled_app.test_client()
    for _ in range(5):
        http.get("/healthz")
    assert len(cleanup_threads()) == 1
    schedule = scheduled.schedule_of(scheduled_app)
    assert schedule.running
    assert schedule.interval == INTERVAL


def test_a_failing_cleanup_is_logged_and_the_next_one_runs(
    scheduled_app, expired_token, monkeypatch, caplog
):
    real_cleanup = cleanup.cleanup
    calls = []

    def fails_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database on fire")
        return real_cleanup(*args, **kwargs)

    monkeypatch.setattr(cleanup, "cleanup", fails_first)
    caplog.set_level(logging.INFO, logger="authserver.cleanup")
    scheduled_app.test_client().get("/healthz")

    assert wait_for(lambda: access_tokens(scheduled_app) == 0)
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failures] == [
        "scheduled cleanup failed; trying again at the next interval"
    ]
    assert "database on fire" in caplog.text
    assert len(cleanup_threads()) == 1  # the worker's thread lives on


@pytest.mark.parametrize("app_config", [{}])
def test_unset_nothing_runs(app, user):
    assert app.config["CLEANUP_INTERVAL"] is None
    app.test_client().get("/healthz")
    assert scheduled.schedule_of(app) is None
    assert cleanup_threads() == []


@pytest.mark.parametrize("value", ["abc", 0, -5, "0", "-1", True, "nan", "inf", [1]])
def test_a_bad_interval_stops_the_start_with_a_clear_error(value):
    with pytest.raises(RuntimeError, match="AUTHSERVER_CLEANUP_INTERVAL must be a positive"):
        cleanup_interval(value)


@pytest.mark.parametrize(("value", "seconds"), [(None, None), ("", None), (30, 30.0), ("0.5", 0.5)])
def test_good_intervals(value, seconds):
    assert cleanup_interval(value) == seconds


def test_the_environment_variable_is_read_and_checked_at_startup(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTHSERVER_CLEANUP_INTERVAL", "minutely")
    with pytest.raises(RuntimeError, match="not 'minutely'"):
        create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path)})
    monkeypatch.setenv("AUTHSERVER_CLEANUP_INTERVAL", "300")
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path)})
    assert app.config["CLEANUP_INTERVAL"] == 300.0
    assert scheduled.schedule_of(app).interval == 300.0
    assert cleanup_threads() == []  # no request served: nothing started
