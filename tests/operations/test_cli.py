"""The SPEC's command line: each command works, and fails with one line on bad input."""

from __future__ import annotations

import json

from sqlalchemy import select

from authserver.extensions import db
from authserver.models import Client, SigningKey, User
from authserver.security.secrets import hash_secret
from authserver.services.clients import find_client
from tests.helpers import basic_auth, login


def _run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _assert_one_line_failure(result) -> None:
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output


def test_users_create_prints_json_and_stores_a_bcrypt_hash(app):
    result = _run(
        app,
        "users",
        "create",
        "--email",
        "Dev@Example.com",
        "--password",
        "long-enough-pw",
        "--name",
        "Dev",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["email"] == "dev@example.com"
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.password_hash.startswith("$2b$")
        assert "long-enough-pw" not in user.password_hash


def test_users_create_refuses_bad_input_with_one_line(app):
    _assert_one_line_failure(
        _run(app, "users", "create", "--email", "nope", "--password", "x" * 12)
    )
    _assert_one_line_failure(
        _run(app, "users", "create", "--email", "a@b.co", "--password", "short")
    )
    assert _run(app, "users", "create", "--email", "a@b.co", "--password", "x" * 12).exit_code == 0
    _assert_one_line_failure(
        _run(app, "users", "create", "--email", "A@B.co", "--password", "x" * 12)
    )


def test_clients_create_prints_a_secret_that_is_stored_only_hashed(app, client):
    result = _run(
        app,
        "clients",
        "create",
        "--name",
        "CLI App",
        "--redirect-uri",
        "https://cli.example/cb",
        "--redirect-uri",
        "http://127.0.0.1:9000/cb",
        "--scope",
        "events:read events:write",
        "--grant-type",
        "client_credentials",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["client_secret"]) >= 43
    with app.app_context():
        row = db.session.scalar(select(Client).where(Client.client_id == data["client_id"]))
        assert row.client_secret_hash == hash_secret(data["client_secret"])
        assert row.redirect_uris == ["https://cli.example/cb", "http://127.0.0.1:9000/cb"]
    # The printed credentials work at the token endpoint.
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(data["client_id"], data["client_secret"]),
    )
    assert response.status_code == 200, response.data


def test_public_client_gets_no_secret(app):
    result = _run(
        app,
        "clients",
        "create",
        "--name",
        "SPA",
        "--redirect-uri",
        "https://spa.example/cb",
        "--scope",
        "openid",
        "--public",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert "client_secret" not in json.loads(result.output)


def test_clients_create_registers_post_logout_redirect_uris(app):
    """RP-Initiated Logout §3: the operator registers where logout may send people back;
    an address RFC 9700 would refuse as a redirect is refused here too."""
    base = ["clients", "create", "--name", "X", "--scope", "openid"]
    base += ["--redirect-uri", "https://x.example/cb", "--json"]
    result = _run(app, *base, "--post-logout-redirect-uri", "https://x.example/bye")
    assert result.exit_code == 0, result.output
    client_id = json.loads(result.output)["client_id"]
    with app.app_context():
        assert find_client(client_id).post_logout_redirect_uris == ["https://x.example/bye"]
    _assert_one_line_failure(_run(app, *base, "--post-logout-redirect-uri", "http://evil.example/"))


def test_clients_create_refuses_bad_input_with_one_line(app):
    base = ["clients", "create", "--name", "X", "--scope", "openid"]
    _assert_one_line_failure(_run(app, *base, "--redirect-uri", "http://evil.example/cb"))
    _assert_one_line_failure(_run(app, *base, "--redirect-uri", "/relative"))
    _assert_one_line_failure(
        _run(
            app,
            "clients",
            "create",
            "--name",
            "X",
            "--scope",
            "admin",
            "--redirect-uri",
            "https://x.example/cb",
        )
    )
    _assert_one_line_failure(
        _run(app, *base, "--redirect-uri", "https://x.example/cb", "--grant-type", "password")
    )
    _assert_one_line_failure(
        _run(app, *base, "--redirect-uri", "https://x.example/cb", "--owner", "nobody@example.com")
    )


def test_keys_rotate_activates_a_new_key_and_keeps_the_old_published(app, client):
    before = client.get("/oauth/jwks").get_json()["keys"]
    result = _run(app, "keys", "rotate", "--json")
    assert result.exit_code == 0, result.output
    new_kid = json.loads(result.output)["kid"]
    after = client.get("/oauth/jwks").get_json()["keys"]
    assert [k["kid"] for k in after] == [new_kid] + [k["kid"] for k in before]
    with app.app_context():
        assert db.session.query(SigningKey).filter(SigningKey.retired_at.is_(None)).count() == 1


def test_demo_is_idempotent_and_prints_working_credentials(app, client):
    first = json.loads(_run(app, "demo", "--json").output)
    second = json.loads(_run(app, "demo", "--json").output)
    assert first["client_id"] == second["client_id"] == "demo-client"
    assert first["device_client_id"] == second["device_client_id"] == "demo-device"
    with app.app_context():
        assert db.session.query(User).count() == 1
        # The demo app, and the public client the device flow example uses from a terminal.
        assert db.session.query(Client).count() == 2
        device = db.session.scalar(select(Client).where(Client.client_id == "demo-device"))
        assert device.is_public
        assert "urn:ietf:params:oauth:grant-type:device_code" in device.grant_types
    # Only the latest secret works: it is kept as a hash, so each run issues a new one.
    ok = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("demo-client", second["client_secret"]),
    )
    assert ok.status_code == 200
    stale = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("demo-client", first["client_secret"]),
    )
    assert stale.status_code == 401


def test_demo_registers_the_demo_client_apps_addresses(app, monkeypatch):
    monkeypatch.delenv("DEMO_CLIENT_REDIRECT_URI", raising=False)
    monkeypatch.delenv("DEMO_CLIENT_POST_LOGOUT_REDIRECT_URI", raising=False)
    data = json.loads(_run(app, "demo", "--json").output)
    assert data["redirect_uri"] == "http://127.0.0.1:5002/callback"
    with app.app_context():
        row = db.session.scalar(select(Client).where(Client.client_id == "demo-client"))
        assert row.redirect_uris == ["http://127.0.0.1:5002/callback"]
        assert row.post_logout_redirect_uris == ["http://127.0.0.1:5002/"]


def test_demo_brings_an_older_demo_clients_addresses_up_to_date(app, monkeypatch):
    monkeypatch.delenv("DEMO_CLIENT_REDIRECT_URI", raising=False)
    monkeypatch.delenv("DEMO_CLIENT_POST_LOGOUT_REDIRECT_URI", raising=False)
    _run(app, "demo", "--json")
    with app.app_context():
        row = db.session.scalar(select(Client).where(Client.client_id == "demo-client"))
        row.redirect_uris = ["http://127.0.0.1:8765/callback"]
        row.post_logout_redirect_uris = []
        db.session.commit()
    result = _run(app, "demo", "--json")
    assert result.exit_code == 0, result.output
    with app.app_context():
        row = db.session.scalar(select(Client).where(Client.client_id == "demo-client"))
        assert row.redirect_uris == ["http://127.0.0.1:5002/callback"]
        assert row.post_logout_redirect_uris == ["http://127.0.0.1:5002/"]
        assert db.session.query(Client).count() == 2  # and the device flow's demo client


def test_demo_follows_the_demo_client_s_settings_when_it_runs_elsewhere(app, monkeypatch):
    """``authserver serve --demo-client`` on other ports (or an operator's own setting) moves
    the demo client; ``demo`` registers where it is, not :5002 (issue 19, item 10)."""
    monkeypatch.setenv("DEMO_CLIENT_REDIRECT_URI", "http://127.0.0.1:8002/callback")
    monkeypatch.setenv("DEMO_CLIENT_POST_LOGOUT_REDIRECT_URI", "http://127.0.0.1:8002/")
    for _ in range(2):  # created, then brought up to date: the same addresses both times
        data = json.loads(_run(app, "demo", "--json").output)
        assert data["redirect_uri"] == "http://127.0.0.1:8002/callback"
        assert data["post_logout_redirect_uri"] == "http://127.0.0.1:8002/"
        with app.app_context():
            row = db.session.scalar(select(Client).where(Client.client_id == "demo-client"))
            assert row.redirect_uris == ["http://127.0.0.1:8002/callback"]
            assert row.post_logout_redirect_uris == ["http://127.0.0.1:8002/"]
            assert row.verified  # still the operator's own demo

    monkeypatch.setenv("DEMO_CLIENT_REDIRECT_URI", "http://127.0.0.1:9002/callback")
    _run(app, "demo", "--json")
    with app.app_context():
        row = db.session.scalar(select(Client).where(Client.client_id == "demo-client"))
        assert row.redirect_uris == ["http://127.0.0.1:9002/callback"]
        assert row.verified  # moved by the operator's settings: still vouched for


def test_an_operator_password_can_come_from_stdin_or_a_prompt_not_the_command_line(app):
    """Issue 19, item 9: passwords only on the command line end up in shell history and `ps`."""
    runner = app.test_cli_runner()
    piped = runner.invoke(
        args=["users", "create", "--email", "pipe@example.com", "--password-stdin", "--json"],
        input="from-standard-input\n",
    )
    assert piped.exit_code == 0, piped.output
    prompted = runner.invoke(
        args=["users", "create", "--email", "ask@example.com", "--json"],
        input="typed-at-the-prompt\ntyped-at-the-prompt\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert "typed-at-the-prompt" not in prompted.output  # hidden input is not echoed
    mistyped = runner.invoke(
        args=["users", "create", "--email", "typo@example.com"],
        input="first-attempt-pw\nsecond-attempt-pw\n",
    )
    assert mistyped.exit_code != 0  # the two entries differ: asked again, then input ran out
    both = runner.invoke(
        args=["users", "create", "--email", "b@example.com", "--password", "x" * 12]
        + ["--password-stdin"],
        input="y" * 12 + "\n",
    )
    assert both.exit_code == 2 and "not both" in both.output
    changed = runner.invoke(
        args=["users", "set-password", "pipe@example.com", "--password-stdin"],
        input="a-new-password-here\n",
    )
    assert changed.exit_code == 0, changed.output

    for email, password in [
        ("pipe@example.com", "a-new-password-here"),
        ("ask@example.com", "typed-at-the-prompt"),
    ]:
        assert login(app.test_client(), email, password).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(User).filter_by(email="typo@example.com")) is None
