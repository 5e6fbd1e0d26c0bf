"""Both services under gunicorn (``authserver serve --api``, two workers each), each serving its
metrics on its own address: the sums over the workers, read as Prometheus reads them.

The server uses this run's database (SQLite file or PostgreSQL schema) and signing key; the API
its own (``api_database``). Requests go over real HTTP.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests import factories
from tests.processes import free_ports, stop_process_group

ROOT = Path(__file__).resolve().parent.parent.parent


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, f"{url} not up:\n{log.read_text()}"
        time.sleep(0.1)


def scrape(address: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value}, summed over whatever the exposition repeats."""
    text = requests.get(f"http://{address}/metrics", timeout=5).text
    values: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            values[key] = values.get(key, 0.0) + sample.value
    return values


def sample(values: dict, name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_each_service_serves_its_own_metrics_summed_over_its_workers(
    app, api_database, test_database, tmp_path
):
    with app.app_context():
        user = factories.make_user()
        service = factories.make_service_client(scope="events:read")

    auth_port, api_port, auth_metrics, api_metrics = free_ports(4)
    auth, api = f"http://127.0.0.1:{auth_port}", f"http://127.0.0.1:{api_port}"
    auth_metrics_address = f"127.0.0.1:{auth_metrics}"
    api_metrics_address = f"127.0.0.1:{api_metrics}"
    temporary = tmp_path / "tmp"  # where the masters make their PROMETHEUS_MULTIPROC_DIRs
    temporary.mkdir()
    runtime = tmp_path / "run"  # where gunicorn puts its control sockets
    runtime.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AUTHSERVER_", "RESOURCE_API_", "FLASK_", "PROMETHEUS_"))
    }
    env |= {
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(temporary),
        "XDG_RUNTIME_DIR": str(runtime),
        "GUNICORN_WORKERS": "2",
        "AUTHSERVER_DATABASE_URL": test_database.url,
        "AUTHSERVER_SQLALCHEMY_ENGINE_OPTIONS": json.dumps(test_database.engine_options),
        # The key the fixture's signing key was stored under: every node shares it.
        "AUTHSERVER_SECRET_KEY": app.config["SECRET_KEY"],
        "AUTHSERVER_BCRYPT_ROUNDS": "4",
        "AUTHSERVER_ISSUER": auth,
        "AUTHSERVER_DEFAULT_AUDIENCE": api,
        "AUTHSERVER_METRICS_ADDRESS": auth_metrics_address,
        "RESOURCE_API_DATABASE_URL": api_database["DATABASE_URL"],
        "RESOURCE_API_SQLALCHEMY_ENGINE_OPTIONS": json.dumps(
            api_database["SQLALCHEMY_ENGINE_OPTIONS"]
        ),
        "RESOURCE_API_ISSUER": auth,
        "RESOURCE_API_AUDIENCE": api,
        "RESOURCE_API_METRICS_ADDRESS": api_metrics_address,
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(  # noqa: S603 - this interpreter, the console script's main
            [sys.executable, "-c", "from authserver.launcher import main; main()", "serve"]
            + ["--bind", f"127.0.0.1:{auth_port}", "--api"],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for(f"{auth}/healthz", server, log)
        _wait_for(f"{api}/openapi.json", server, log)
        # A control socket for each master, not one path the second takes from the first. A
        # master opens its socket only after spawning its workers, so the other service may
        # already answer while this one's socket is still to come: wait for both.
        sockets = sorted(
            [f"gunicorn-127.0.0.1-{auth_port}.ctl", f"gunicorn-127.0.0.1-{api_port}.ctl"]
        )
        deadline = time.monotonic() + 10
        while (made := sorted(path.name for path in runtime.iterdir())) != sockets:
            assert server.poll() is None, log.read_text()
            assert set(made) <= set(sockets), made  # never a shared or unexpected path
            assert time.monotonic() < deadline, f"control sockets {made}:\n{log.read_text()}"
            time.sleep(0.05)

        # One token issued, one failed client authentication, one failed login, one 404.
        token = requests.post(
            f"{auth}/oauth/token",
            data={"grant_type": "client_credentials", "scope": "events:read"},
            auth=(service.client_id, service.secret),
            timeout=10,
        )
        assert token.status_code == 200, token.text
        refused = requests.post(
            f"{auth}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(service.client_id, "not-the-secret"),
            timeout=10,
        )
        assert refused.status_code == 401
        browser = requests.Session()
        page = browser.get(f"{auth}/login", timeout=10).text
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert csrf, page
        failed = browser.post(
            f"{auth}/login",
            data={"csrf_token": csrf.group(1), "email": user.email, "password": "wrong one"},
            timeout=10,
        )
        assert failed.status_code == 400 and "Incorrect email or password" in failed.text
        assert requests.get(f"{auth}/no/such/path", timeout=10).status_code == 404

        # The API checks the token: it fetches the issuer's JWKS over HTTP.
        events = requests.get(
            f"{api}/api/events",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=10,
        )
        assert events.status_code == 200, events.text

        # Neither public port serves metrics.
        assert requests.get(f"{auth}/metrics", timeout=10).status_code == 404
        assert requests.get(f"{api}/metrics", timeout=10).status_code == 404

        # Each worker boots on its own time: wait until both hold a database pool.
        deadline = time.monotonic() + 10
        while True:
            values = scrape(auth_metrics_address)
            if sample(values, "authserver_db_pool_size") == 2 * 5:  # two workers, pool_size 5
                break
            assert time.monotonic() < deadline, values
            time.sleep(0.1)

        token_requests = "authserver_token_requests_total"
        assert sample(values, token_requests, grant_type="client_credentials", outcome="ok") == 1
        assert (
            sample(
                values, token_requests, grant_type="client_credentials", outcome="invalid_client"
            )
            == 1
        )
        failures = "authserver_client_authentication_failures_total"
        assert sample(values, failures, endpoint="/oauth/token") == 1
        assert sample(values, "authserver_login_failures_total") == 1
        requests_total = "authserver_http_requests_total"
        token_200 = {"endpoint": "/oauth/token", "method": "POST", "status": "200"}
        assert sample(values, requests_total, **token_200) == 1
        assert sample(values, requests_total, **{**token_200, "status": "401"}) == 1
        assert sample(values, requests_total, endpoint="unmatched", method="GET", status="404") == 2
        assert (
            sample(
                values, "authserver_http_request_duration_seconds_count", endpoint="/oauth/token"
            )
            == 2
        )
        assert sample(values, "authserver_db_pool_checked_out_connections") == 0
        assert not any(name.startswith("resource_api_") for name, _ in values)

        api_values = scrape(api_metrics_address)
        assert sample(api_values, "resource_api_jwks_fetches_total", outcome="ok") == 1
        assert sample(api_values, "resource_api_jwks_fetches_total", outcome="error") == 0
        api_requests = "resource_api_http_requests_total"
        assert (
            sample(api_values, api_requests, endpoint="/api/events", method="GET", status="200")
            == 1
        )
        assert not any(name.startswith("authserver_") for name, _ in api_values)
    finally:
        stop_process_group(server)
    # Each master removed its directory of worker files on the way out.
    assert list(temporary.iterdir()) == [], log.read_text()
