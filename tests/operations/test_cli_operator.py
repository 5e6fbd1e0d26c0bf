"""The operator's commands: users, clients, tokens, sessions and keys, each with ``--json`` and
a one-line refusal on bad input."""

from __future__ import annotations

import html
import json

import pytest
from sqlalchemy import select

from authserver import create_app
from authserver.extensions import db
from authserver.models import AuditEvent, Client, OutboxMessage, SigningKey, User, UserSession
from authserver.services import accounts, clients, outbox
from authserver.services.links import LinkState
from tests import factories
from tests.helpers import (
    assert_oauth_error,
    authorize_url,
    basic_auth,
    client_credentials_token,
    decode_jwt,
    login,
    refresh,
    user_tokens,
)


@pytest.fixture
def service_client(app) -> factories.ClientInfo:
    with app.app_context():
        return factories.make_service_client()


def _run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _json(app, *args) -> dict:
    # Options before ``--``: a kid may start with "-", so ids after it are never read as options.
    at = args.index("--") if "--" in args else len(args)
    result = _run(app, *args[:at], "--json", *args[at:])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert isinstance(data, dict)
    return data


def _refused(app, *args, mentions: str = "") -> str:
    """Exit status 1, and one line that says why."""
    result = _run(app, *args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert mentions in lines[0]
    return lines[0]


def _introspect(http, app_client, token: str) -> dict:
    response = http.post(
        "/oauth/introspect",
        data={"token": token},
        headers=basic_auth(app_client.client_id, app_client.secret),
    )
    assert response.status_code == 200, response.data
    return response.get_json()


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# --- users -------------------------------------------------------------------------------------


def test_users_list_and_show(app, user, confidential_client):
    listed = _json(app, "users", "list")
    assert listed == {
        "users": [
            {
                "email": user.email,
                "sub": user.subject,
                "name": user.name,
                "disabled": False,
                "disabled_at": None,
                "email_verified": False,
                "created_at": listed["users"][0]["created_at"],
            }
        ]
    }
    text = _run(app, "users", "list")
    assert text.exit_code == 0 and user.email in text.output
    shown = _json(app, "users", "show", user.email.upper())
    assert shown["email"] == user.email
    assert shown["clients"] == [confidential_client.client_id]
    assert shown["sessions"] == 0 and shown["grants"] == 0
    _refused(app, "users", "show", "nobody@example.com", mentions="No user")


def test_disabled_user_cannot_log_in_and_loses_sessions_and_tokens(
    app, logged_in, user, confidential_client
):
    issued = user_tokens(logged_in, confidential_client)
    assert _introspect(logged_in, confidential_client, issued["access_token"])["active"]

    data = _json(app, "users", "disable", user.email)
    assert data["email"] == user.email and data["disabled"] is True
    assert data["sessions"] == 1 and data["families"] == 1

    # Tokens: inactive, the refresh token dead.
    assert _introspect(logged_in, confidential_client, issued["access_token"]) == {"active": False}
    assert_oauth_error(
        refresh(logged_in, confidential_client, issued["refresh_token"]), "invalid_grant"
    )
    # The session: gone, so authorizing asks for a login again.
    response = logged_in.get(authorize_url(confidential_client))
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    # Logging in: the same answer as a wrong password.
    denied = login(app.test_client(), user.email, user.password)
    assert denied.status_code == 400
    assert "Incorrect email or password." in _text(denied)
    with app.app_context():
        assert db.session.scalar(select(User)).disabled_at is not None
        events = db.session.scalars(select(AuditEvent.event)).all()
        assert "user.disabled" in events

    _refused(app, "users", "disable", user.email, mentions="already disabled")
    assert _json(app, "users", "enable", user.email) == {"email": user.email, "disabled": False}
    assert login(app.test_client(), user.email, user.password).status_code == 302
    _refused(app, "users", "enable", user.email, mentions="not disabled")
    _refused(app, "users", "disable", "nobody@example.com", mentions="No user")


def test_users_set_password(app, user):
    new = "a brand new password"
    assert _json(app, "users", "set-password", user.email, "--password", new) == {
        "email": user.email,
        "password_changed": True,
    }
    assert login(app.test_client(), user.email, user.password).status_code == 400
    assert login(app.test_client(), user.email, new).status_code == 302
    _refused(app, "users", "set-password", user.email, "--password", "short", mentions="at least")
    _refused(app, "users", "set-password", "nobody@example.com", "--password", new)


def test_users_delete(app, user, confidential_client):
    _refused(app, "users", "delete", user.email, mentions="--with-clients")
    with app.app_context():
        assert db.session.query(User).count() == 1  # nothing half-done
    data = _json(app, "users", "delete", user.email, "--with-clients")
    assert data == {
        "email": user.email,
        "sub": user.subject,
        "deleted": True,
        "clients": [confidential_client.client_id],
    }
    with app.app_context():
        assert db.session.query(User).count() == 0
        assert db.session.query(Client).count() == 0
    _refused(app, "users", "delete", user.email, mentions="No user")


def test_users_delete_without_clients(app):
    assert _run(app, "users", "create", "--email", "x@example.com", "--password", "x" * 12)
    assert _json(app, "users", "delete", "x@example.com")["clients"] == []


# --- clients -----------------------------------------------------------------------------------


def test_clients_list_and_show(app, user, confidential_client):
    listed = _json(app, "clients", "list")
    assert [c["client_id"] for c in listed["clients"]] == [confidential_client.client_id]
    shown = _json(app, "clients", "show", confidential_client.client_id)
    assert shown == listed["clients"][0]
    assert shown["owner"] == user.email
    assert shown["disabled"] is False and shown["public"] is False
    assert _run(app, "clients", "list").output.startswith(confidential_client.client_id)
    _refused(app, "clients", "show", "nope", mentions="No client")


def test_disabled_client_gets_invalid_client_and_loses_its_tokens(
    app, logged_in, confidential_client, service_client
):
    service = service_client
    issued = user_tokens(logged_in, confidential_client)
    own = client_credentials_token(logged_in, service)

    data = _json(app, "clients", "disable", confidential_client.client_id)
    assert data["disabled"] is True and data["families"] == 1

    token = logged_in.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(token, "invalid_client", 401)
    introspected = logged_in.post(
        "/oauth/introspect",
        data={"token": issued["access_token"]},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(introspected, "invalid_client", 401)
    revoked = logged_in.post(
        "/oauth/revoke",
        data={"token": issued["refresh_token"]},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(revoked, "invalid_client", 401)
    page = logged_in.get(authorize_url(confidential_client))
    assert page.status_code == 400 and "disabled" in _text(page)

    # Its tokens are revoked (asked by another client that may introspect).
    with app.app_context():
        row = db.session.scalar(select(Client).where(Client.client_id == service.client_id))
        row.can_introspect_any = True
        db.session.commit()
    assert _introspect(logged_in, service, issued["access_token"]) == {"active": False}

    # A client's own tokens go too.
    assert _json(app, "clients", "disable", service.client_id)["client_tokens"] == 1
    assert _json(app, "clients", "enable", service.client_id)["disabled"] is False
    assert _introspect(logged_in, service, own) == {"active": False}

    _refused(app, "clients", "disable", confidential_client.client_id, mentions="already")
    assert _json(app, "clients", "enable", confidential_client.client_id) == {
        "client_id": confidential_client.client_id,
        "disabled": False,
    }
    assert user_tokens(logged_in, confidential_client)["access_token"]
    _refused(app, "clients", "enable", confidential_client.client_id, mentions="not disabled")
    _refused(app, "clients", "disable", "nope", mentions="No client")


def test_clients_rotate_secret(app, client, confidential_client, public_client):
    data = _json(app, "clients", "rotate-secret", confidential_client.client_id, "--grace", "0")
    assert data["client_id"] == confidential_client.client_id
    assert data["previous_secret_expires_at"] is None
    old = basic_auth(confidential_client.client_id, confidential_client.secret)
    grant = {"grant_type": "refresh_token", "refresh_token": "x"}
    assert client.post("/oauth/token", data=grant, headers=old).status_code == 401
    new = basic_auth(confidential_client.client_id, data["client_secret"])
    assert_oauth_error(client.post("/oauth/token", data=grant, headers=new), "invalid_grant")

    # The default honours CLIENT_SECRET_GRACE: the previous secret still works a while.
    again = _json(app, "clients", "rotate-secret", confidential_client.client_id)
    assert again["previous_secret_expires_at"] is not None
    assert_oauth_error(client.post("/oauth/token", data=grant, headers=new), "invalid_grant")

    _refused(app, "clients", "rotate-secret", public_client.client_id, mentions="no secret")
    _refused(app, "clients", "rotate-secret", "nope", mentions="No client")
    result = _run(app, "clients", "rotate-secret", confidential_client.client_id, "--grace", "-1")
    assert result.exit_code != 0


def test_disabling_a_client_ends_the_previous_secrets_grace_period(app, client, service_client):
    """A client is often disabled because its secret leaked: rotate, disable, enable must not
    bring the leaked secret back for what is left of its grace period."""
    rotated = _json(app, "clients", "rotate-secret", service_client.client_id)
    assert rotated["previous_secret_expires_at"] is not None
    old = basic_auth(service_client.client_id, service_client.secret)
    new = basic_auth(service_client.client_id, rotated["client_secret"])
    grant = {"grant_type": "client_credentials", "scope": "events:read"}
    assert client.post("/oauth/token", data=grant, headers=old).status_code == 200

    _json(app, "clients", "disable", service_client.client_id)
    _json(app, "clients", "enable", service_client.client_id)

    assert_oauth_error(client.post("/oauth/token", data=grant, headers=old), "invalid_client", 401)
    assert client.post("/oauth/token", data=grant, headers=new).status_code == 200
    assert (
        _json(app, "clients", "show", service_client.client_id)["previous_secret_expires_at"]
        is None
    )
    with app.app_context():
        disabled = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "client.disabled")
        )
        assert disabled.detail["previous_secret_ended"] is True


def test_generated_client_ids_never_look_like_options(app, monkeypatch):
    values = iter(["-looks-like-an-option", "fine-client-id"])
    monkeypatch.setattr(clients, "new_secret", lambda nbytes=32: next(values))
    assert clients.new_client_id() == "fine-client-id"


def test_clients_delete_and_verify(app, confidential_client):
    assert _json(app, "clients", "verify", confidential_client.client_id)["verified"] is True
    assert _json(app, "clients", "delete", confidential_client.client_id) == {
        "client_id": confidential_client.client_id,
        "deleted": True,
    }
    with app.app_context():
        assert db.session.query(Client).count() == 0
    _refused(app, "clients", "delete", confidential_client.client_id, mentions="No client")
    _refused(app, "clients", "verify", confidential_client.client_id, mentions="No client")


# --- tokens and sessions -----------------------------------------------------------------------


@pytest.mark.parametrize("by", ["--user", "--client"])
def test_tokens_revoke(app, logged_in, user, confidential_client, by):
    issued = user_tokens(logged_in, confidential_client)
    target = user.email if by == "--user" else confidential_client.client_id
    data = _json(app, "tokens", "revoke", by, target)
    assert data == {"families": 1, "client_tokens": 0, "codes": 0}
    assert _introspect(logged_in, confidential_client, issued["access_token"]) == {"active": False}
    assert _json(app, "tokens", "revoke", by, target)["families"] == 0
    _refused(app, "tokens", "revoke", by, "nope@example.com" if by == "--user" else "nope")


def test_tokens_revoke_needs_a_target(app):
    _refused(app, "tokens", "revoke", mentions="--user")


def test_sessions_end(app, logged_in, user, confidential_client):
    issued = user_tokens(logged_in, confidential_client)
    assert _json(app, "sessions", "end", "--user", user.email) == {
        "email": user.email,
        "sessions": 1,
    }
    response = logged_in.get(authorize_url(confidential_client))
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    # Tokens are not the session's: they stay until revoked.
    assert _introspect(logged_in, confidential_client, issued["access_token"])["active"]
    with app.app_context():
        assert db.session.scalar(select(UserSession)).ended_at is not None
    _refused(app, "sessions", "end", "--user", "nobody@example.com", mentions="No user")


# --- keys --------------------------------------------------------------------------------------


def _kids(http) -> list[str]:
    return [k["kid"] for k in http.get("/oauth/jwks").get_json()["keys"]]


def test_keys_list(app, signing_pem):
    data = _json(app, "keys", "list")
    assert data["keys"] == [
        {
            "kid": signing_pem[0],
            "state": "active",
            "in_jwks": True,
            "created_at": data["keys"][0]["created_at"],
            "activated_at": data["keys"][0]["activated_at"],
            "retired_at": None,
            "withdrawn_at": None,
        }
    ]
    assert _run(app, "keys", "list").output.startswith(signing_pem[0])


def test_pre_published_key_is_in_the_jwks_and_signs_only_after_rotate(
    app, client, signing_pem, service_client
):
    old_kid = signing_pem[0]
    published = _json(app, "keys", "rotate", "--publish-only")
    new_kid = published["kid"]
    assert published == {"kid": new_kid, "state": "published"}
    assert _kids(client) == [new_kid, old_kid]

    # Until activation, tokens are signed by the old key.
    before = client_credentials_token(client, service_client)
    assert decode_jwt(client, before)[0]["kid"] == old_kid
    states = {k["kid"]: k["state"] for k in _json(app, "keys", "list")["keys"]}
    assert states == {old_kid: "active", new_kid: "published"}
    _refused(app, "keys", "rotate", "--publish-only", mentions="already published")

    # A plain rotate activates the pre-published key rather than making another.
    assert _json(app, "keys", "rotate") == {"kid": new_kid, "state": "active"}
    after = client_credentials_token(client, service_client)
    assert decode_jwt(client, after)[0]["kid"] == new_kid
    assert _kids(client) == [new_kid, old_kid]  # the old key stays while its tokens live
    assert decode_jwt(client, before)[1]["client_id"] == service_client.client_id
    with app.app_context():
        assert db.session.query(SigningKey).count() == 2


def test_keys_rotate_without_a_pre_published_key_makes_a_new_one(app, client, signing_pem):
    kid = _json(app, "keys", "rotate")["kid"]
    assert kid != signing_pem[0]
    assert _kids(client) == [kid, signing_pem[0]]


def test_keys_retire(app, client, signing_pem):
    old_kid = signing_pem[0]
    _refused(app, "keys", "retire", "--", old_kid, mentions="active signing key")
    _refused(app, "keys", "retire", "no-such-kid", mentions="No signing key")

    # A pre-published key withdrawn before it signed anything leaves the JWKS at once.
    waiting = _json(app, "keys", "rotate", "--publish-only")["kid"]
    assert _json(app, "keys", "retire", "--", waiting) == {"kid": waiting, "state": "retired"}
    assert _kids(client) == [old_kid]
    _refused(app, "keys", "retire", "--", waiting, mentions="already retired")

    # The next rotate makes a new key; the old one, retired, is still published a while.
    new_kid = _json(app, "keys", "rotate")["kid"]
    assert new_kid not in (waiting, old_kid)
    assert _kids(client) == [new_kid, old_kid]
    _refused(app, "keys", "retire", "--", old_kid, mentions="already retired")


def test_a_leaked_active_key_is_withdrawn_at_once_and_its_tokens_refused(
    app, client, signing_pem, logged_in, confidential_client
):
    """Issue 19, item 7: `keys retire` could not pull a key out of the JWKS at once."""
    leaked = signing_pem[0]
    issued = user_tokens(logged_in, confidential_client)
    assert _introspect(logged_in, confidential_client, issued["access_token"])["active"]

    said = _run(app, "keys", "retire", "--now", "--", leaked)
    assert said.exit_code == 0, said.output
    text = said.output.replace("\n", " ")
    assert f"Withdrew key {leaked}" in text and "tokens it signed are refused" in text
    (line,) = [w for w in text.split(". ") if w.startswith("Key ") and w.endswith("signs instead")]
    replacement = line.split()[1]

    assert _kids(client) == [replacement]  # out of the JWKS now, not after the tokens expire
    assert _introspect(logged_in, confidential_client, issued["access_token"]) == {"active": False}
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 401
    # New tokens are signed by the replacement and verify.
    fresh = refresh(logged_in, confidential_client, issued["refresh_token"]).get_json()
    assert decode_jwt(client, fresh["access_token"])[0]["kid"] == replacement
    assert _introspect(logged_in, confidential_client, fresh["access_token"])["active"]
    states = {k["kid"]: k["state"] for k in _json(app, "keys", "list")["keys"]}
    assert states == {leaked: "withdrawn", replacement: "active"}
    _refused(app, "keys", "retire", "--now", "--", leaked, mentions="already withdrawn")
    with app.app_context():
        assert "key.withdrawn" in db.session.scalars(select(AuditEvent.event)).all()

    # Cleanup deletes its private key; the active key stays.
    assert _json(app, "cleanup")["signing_keys"] == 1
    with app.app_context():
        assert db.session.scalars(select(SigningKey.kid)).all() == [replacement]


def test_cleanup_deletes_retired_keys_once_no_token_of_theirs_can_live(
    app, client, signing_pem, fake_clock
):
    old_kid = signing_pem[0]
    new_kid = _json(app, "keys", "rotate")["kid"]
    assert _json(app, "cleanup")["signing_keys"] == 0  # still published: its tokens live
    assert set(_kids(client)) == {new_kid, old_kid}  # (the fake clock may precede old's birth)
    ttl = max(app.config["ACCESS_TOKEN_TTL"], app.config["ID_TOKEN_TTL"])
    fake_clock.advance(ttl + 61)
    assert _kids(client) == [new_kid]
    assert _json(app, "cleanup")["signing_keys"] == 1
    with app.app_context():
        assert db.session.scalars(select(SigningKey.kid)).all() == [new_kid]


def test_rotate_and_retire_say_plainly_what_they_did(app, signing_pem):
    old_kid = signing_pem[0]
    published = _run(app, "keys", "rotate", "--publish-only").output
    assert published.startswith("Published key ") and "signs nothing yet" in published
    waiting = published.split()[2]
    rotated = _run(app, "keys", "rotate").output
    assert rotated.startswith(f"Key {waiting} signs new tokens on every node within 1 s; ")
    assert f"{old_kid} is retired" in rotated
    retired = _run(app, "keys", "retire", "--", old_kid)
    assert "already retired" in retired.output  # rotate retired it


@pytest.mark.parametrize(
    "command",
    [
        ("users", "list"),
        ("clients", "show", "some-client"),
        ("keys", "list"),
        ("tokens", "revoke", "--user", "someone@example.com"),
        ("demo",),
        ("cleanup",),
        ("check",),
    ],
)
@pytest.mark.parametrize(
    "database", ["unmigrated", "unreachable"], ids=["not migrated", "not reachable"]
)
def test_a_database_that_cannot_be_used_is_one_line_not_a_traceback(
    tmp_path, command, database
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        if database == "unmigrated"
        # A closed port: nothing listens on port 9 (discard) here.
        else "postgresql+psycopg://127.0.0.1:9/none?connect_timeout=2"
    )
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": url,
            "SECRET_KEY": "test-secret-key-" + "x" * 32,
        }
    )
    line = _refused(app, *command, mentions="The database cannot be used")
    assert "authserver db upgrade" in line
    if database == "unmigrated":
        assert "no such table" in line
    else:
        assert "Connection refused" in line or "connection failed" in line


def test_users_verify_email(app, user):
    assert _json(app, "users", "verify-email", user.email)["changed"] is True
    assert _json(app, "users", "show", user.email)["email_verified"] is True
    assert _json(app, "users", "verify-email", user.email)["changed"] is False
    _refused(app, "users", "verify-email", "nobody@example.com", mentions="No user")


def test_users_send_reset_queues_a_working_link(app, user):
    assert _json(app, "users", "send-reset", user.email)["reset_mail_queued"] is True
    with app.app_context():
        [message] = db.session.scalars(select(OutboxMessage)).all()
        assert message.recipient == user.email
        link = outbox.payload_of(message)["context"]["link"]
        assert accounts.reset_link_state(link.split("token=")[1]) is LinkState.USABLE
        assert (
            db.session.scalar(
                select(AuditEvent).where(AuditEvent.event == "password.reset_requested")
            ).actor
            == "operator"
        )
    _json(app, "users", "disable", user.email)
    _refused(app, "users", "send-reset", user.email, mentions="disabled")


# --- after a restore ---------------------------------------------------------------------------


def test_after_restore_ends_every_session_and_token_and_rotates_the_key(
    app, logged_in, user, confidential_client, service_client, signing_pem
):
    """Issue 19, item 3: a restored (older) backup holds, live, tokens revoked since it was
    taken; one command makes sure none of them works."""
    issued = user_tokens(logged_in, confidential_client)
    own = client_credentials_token(app.test_client(), service_client)
    old_kid, _ = signing_pem

    refused = _run(app, "after-restore")  # asks first; no answer, nothing done
    assert refused.exit_code == 1
    assert _introspect(logged_in, confidential_client, issued["access_token"])["active"]

    done = _json(app, "after-restore", "--yes")
    assert done["sessions"] == 1 and done["families"] == 1 and done["access_tokens"] == 2
    assert done["new_signing_key"] != old_kid

    assert _introspect(logged_in, confidential_client, issued["access_token"]) == {"active": False}
    assert _introspect(logged_in, confidential_client, own) == {"active": False}
    assert_oauth_error(
        refresh(logged_in, confidential_client, issued["refresh_token"]), "invalid_grant"
    )
    response = logged_in.get(authorize_url(confidential_client))
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    http = app.test_client()
    # The new key signs; the old one stays published until its tokens have expired.
    assert set(_kids(http)) == {old_kid, done["new_signing_key"]}
    header, _ = decode_jwt(http, client_credentials_token(http, service_client))
    assert header["kid"] == done["new_signing_key"]
    with app.app_context():
        assert "restore.hygiene" in db.session.scalars(select(AuditEvent.event)).all()

    said = _run(app, "after-restore", "--yes").output
    assert said.startswith("Ended 0 login session(s); revoked 0 token grant(s)")
