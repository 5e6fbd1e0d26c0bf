"""In-process token-path benchmark: cost of our endpoints as ratios to a bare Flask endpoint.

    python -m bench --in-process [--rounds N]

Everything runs in-process through the WSGI test client on a temporary SQLite database, so the
numbers compare our work (client authentication, signing, database writes) with Flask's own
per-request floor measured in the same run, on the same machine.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade


def _timed(fn: Callable[[], object], rounds: int) -> float:
    """Median seconds per call over ``rounds`` calls (after a short warm-up)."""
    for _ in range(min(20, rounds)):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench --in-process", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="authserver-bench-"))
    try:
        _run(args.rounds, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(rounds: int, workdir: Path) -> None:
    from authserver import create_app, policy
    from authserver.extensions import db
    from authserver.security.secrets import new_secret
    from authserver.services import clients, keys, tokens, users

    app = create_app(
        {
            "INSTANCE_PATH": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "SECRET_KEY": "bench-" + "x" * 32,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade()
        keys.active_key()
        client, secret = clients.create_client(
            "Bench",
            ["https://bench.example/cb"],
            "events:read offline_access",
            grant_types=["client_credentials", "authorization_code", "refresh_token"],
        )
        client_id = client.client_id
        user = users.create_user("bench@example.com", "bench-password-1", "Bench")
        family = tokens.start_family(client, user, "events:read offline_access")
        db.session.flush()
        first_refresh = new_secret(32)
        tokens.record_refresh_token(first_refresh, family, policy.lifetimes(app.config))
        db.session.commit()

    bare = Flask("bare")

    @bare.post("/token")
    def bare_token() -> dict:
        return {"access_token": "x", "token_type": "Bearer"}

    bare_http = bare.test_client()
    http = app.test_client()
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}"}

    def client_credentials() -> None:
        response = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers=headers
        )
        assert response.status_code == 200, response.data

    def wrong_secret() -> None:
        response = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic " + base64.b64encode(b"x:y").decode()},
        )
        assert response.status_code == 401

    chain = {"refresh_token": first_refresh}

    def refresh_rotation() -> None:
        response = http.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": chain["refresh_token"]},
            headers=headers,
        )
        assert response.status_code == 200, response.data
        chain["refresh_token"] = response.get_json()["refresh_token"]

    def jwks() -> None:
        assert http.get("/oauth/jwks").status_code == 200

    floor = _timed(lambda: bare_http.post("/token", data={"grant_type": "x"}), rounds)
    rows = [
        ("bare Flask POST (floor)", floor),
        ("POST /oauth/token client_credentials", _timed(client_credentials, rounds)),
        ("POST /oauth/token refresh_token (rotates)", _timed(refresh_rotation, rounds)),
        ("POST /oauth/token wrong secret (401)", _timed(wrong_secret, rounds)),
        ("GET /oauth/jwks", _timed(jwks, rounds)),
    ]
    print(f"{'request':42} {'median':>10} {'x floor':>8}")
    for name, seconds in rows:
        print(f"{name:42} {seconds * 1000:8.2f}ms {seconds / floor:8.1f}")


if __name__ == "__main__":
    main()
