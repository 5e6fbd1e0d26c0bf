"""A Redis outage under the throttling counters is visible and keeps lockouts (issue 19, item 2).

A real redis-server on a free port, stopped in the middle of the test and started again: the
fall back to per-process memory is one log line and a metric each way, ``/readyz`` says
degraded (still 200), ``authserver check`` fails the storage, an account locked out before the
outage stays locked out, and the process returns to Redis at its next probe.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from authserver import storage_watch
from authserver.extensions import limiter
from servicemetrics.instruments import for_service
from tests.helpers import login
from tests.processes import free_port

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server")

PORT = free_port()


def start_redis(port: int) -> subprocess.Popen:
    server = subprocess.Popen(  # noqa: S603 - the system's redis-server, on loopback
        [
            str(REDIS_SERVER),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            if client.ping():
                return server
        except redis.ConnectionError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("redis-server did not start")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def redis_server() -> Iterator[list[subprocess.Popen]]:
    servers = [start_redis(PORT)]
    yield servers
    for server in servers:
        if server.poll() is None:
            stop(server)
    # The limiter and the watch are per process: leave them as the next test expects.
    limiter._storage_dead = False
    storage_watch._state = storage_watch._State()


@pytest.fixture
def app_config() -> dict:
    return {
        "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{PORT}",
        "LOGIN_FAILURES_PER_ACCOUNT": "3 per hour",
        "METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
    }


def metric(name: str, **labels: str) -> float:
    return for_service("authserver").registry.get_sample_value(name, labels) or 0.0


def wrong_password(app, email: str) -> int:
    return login(app.test_client(), email, "not the password").status_code


def test_a_redis_outage_is_seen_and_keeps_lockouts(app, user, redis_server, caplog, monkeypatch):
    from tests import factories

    with app.app_context():
        other = factories.make_user(email="grace@example.com")
    caplog.set_level(logging.INFO, logger="authserver.throttling")
    assert [wrong_password(app, user.email) for _ in range(4)] == [400, 400, 400, 429]
    assert app.test_client().get("/readyz").get_json() == {"status": "ok"}
    went_down = metric("authserver_throttling_storage_transitions_total", to="memory")

    stop(redis_server[0])  # Redis goes away
    # The account locked out before the outage stays locked out in this process's memory.
    assert wrong_password(app, user.email) == 429
    assert wrong_password(app, user.email) == 429
    # One that was never refused starts from zero here: the documented bound.
    assert wrong_password(app, other.email) == 400  # a wrong password, not throttled

    lines = [r for r in caplog.records if r.name == "authserver.throttling"]
    assert [r.levelname for r in lines] == ["WARNING"], [r.getMessage() for r in lines]
    assert "unreachable" in lines[0].getMessage()
    assert f"127.0.0.1:{PORT}" in lines[0].fields["storage"]
    assert metric("authserver_throttling_storage_up") == 0
    assert metric("authserver_throttling_storage_transitions_total", to="memory") == went_down + 1

    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "degraded"
    assert "memory" in ready.get_json()["throttling"]

    result = app.test_cli_runner().invoke(args=["check", "--json"])
    checks = {c["item"]: c for c in json.loads(result.output.splitlines()[-1])["checks"]}
    assert result.exit_code == 1 and checks["throttling storage"]["status"] == "fail"
    assert "does not answer" in checks["throttling storage"]["detail"]

    redis_server.append(start_redis(PORT))  # back, empty (a restarted Redis without a dump)
    monkeypatch.setattr(storage_watch, "RECHECK_SECONDS", 0.0)  # the next request probes
    app.test_client().get("/healthz")
    assert app.test_client().get("/readyz").get_json() == {"status": "ok"}
    lines = [r for r in caplog.records if r.name == "authserver.throttling"]
    assert [r.levelname for r in lines] == ["WARNING", "INFO"]
    assert "reachable again" in lines[1].getMessage()
    assert metric("authserver_throttling_storage_up") == 1
    # Counting in Redis again: the account starts over there (this Redis lost its data).
    assert wrong_password(app, other.email) == 400  # a wrong password, not throttled
    assert redis.Redis(host="127.0.0.1", port=PORT).dbsize() > 0
    result = app.test_cli_runner().invoke(args=["check", "--json"])
    checks = {c["item"]: c for c in json.loads(result.output.splitlines()[-1])["checks"]}
    assert checks["throttling storage"]["status"] == "pass"


def test_one_line_per_transition_not_per_request(app, user, redis_server, caplog):
    caplog.set_level(logging.INFO, logger="authserver.throttling")
    wrong_password(app, user.email)
    stop(redis_server[0])
    for _ in range(3):
        wrong_password(app, user.email)
        app.test_client().get("/healthz")
    lines = [r for r in caplog.records if r.name == "authserver.throttling"]
    assert len(lines) == 1 and lines[0].levelname == "WARNING"
