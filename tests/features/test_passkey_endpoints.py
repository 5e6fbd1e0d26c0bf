"""The passkey endpoints against hostile and stale input (the ceremonies themselves run in
tests/browser/test_passkeys.py with a virtual authenticator): challenges single-use, bound to
the browser and short-lived, the relying party on localhost, someone else's passkey."""

from __future__ import annotations

import json

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from webauthn.helpers import bytes_to_base64url

from authserver import clock
from authserver.extensions import db
from authserver.models import AuditEvent, Passkey, User
from tests import factories
from tests.conftest import FakeClock
from tests.helpers import csrf_token, login

LOCALHOST = {"base_url": "http://localhost:5000"}
FORGED = {
    "id": "AAAA",
    "rawId": "AAAA",
    "type": "public-key",
    "response": {"clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AAAA"},
}


def token_of(browser: FlaskClient, path: str = "/login") -> str:
    return csrf_token(browser.get(path, **LOCALHOST).data)


def post_json(browser: FlaskClient, path: str, body: object, token: str):
    return browser.post(
        path, data=json.dumps(body), content_type="application/json",
        headers={"X-CSRFToken": token}, **LOCALHOST,
    )  # fmt: skip


def credential_id(user_id: int, name: str) -> str:
    return bytes_to_base64url(f"cred-{user_id}-{name}".encode())


def add_passkey(app: Flask, user_id: int, name: str = "Laptop") -> int:
    with app.app_context():
        passkey = Passkey(
            user_id=user_id, credential_id=credential_id(user_id, name), public_key="AAAA",
            sign_count=0, name=name, backup_eligible=False, rp_id="localhost",
            created_at=clock.now(),
        )  # fmt: skip
        db.session.add(passkey)
        db.session.commit()
        return passkey.id


def test_sign_in_options_name_localhost_and_require_user_verification(client: FlaskClient) -> None:
    token = token_of(client)
    options = post_json(client, "/login/passkey/options", {}, token)
    assert options.status_code == 200
    body = options.get_json()
    assert body["rpId"] == "localhost"
    assert body["userVerification"] == "required"
    assert not body.get("allowCredentials")  # discoverable: whoever's passkey is on the device
    assert options.headers["Cache-Control"] == "no-store"


def test_an_answer_without_a_challenge_is_refused(client: FlaskClient) -> None:
    answer = post_json(client, "/login/passkey", {"credential": FORGED}, token_of(client))
    assert answer.status_code == 400
    assert "expired" in answer.get_json()["error"]


def test_a_challenge_answers_once(app: Flask, client: FlaskClient) -> None:
    token = token_of(client)
    post_json(client, "/login/passkey/options", {}, token)
    forged = post_json(client, "/login/passkey", {"credential": FORGED}, token)
    assert forged.status_code == 401
    again = post_json(client, "/login/passkey", {"credential": FORGED}, token)
    assert again.status_code == 400 and "expired" in again.get_json()["error"]
    with app.app_context():
        failed = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "passkey.failed")
        ).all()
    assert failed


def test_a_challenge_expires(client: FlaskClient, fake_clock: FakeClock) -> None:
    token = token_of(client)
    post_json(client, "/login/passkey/options", {}, token)
    fake_clock.advance(121)
    late = post_json(client, "/login/passkey", {"credential": FORGED}, token)
    assert late.status_code == 400 and "expired" in late.get_json()["error"]


def test_malformed_answers_get_a_4xx(client: FlaskClient) -> None:
    token = token_of(client)
    for body in (None, [], "x", {"credential": "x"}, {"credential": {"id": 5}}):
        post_json(client, "/login/passkey/options", {}, token)
        answer = post_json(client, "/login/passkey", body, token)
        assert 400 <= answer.status_code < 500, (body, answer.status_code)


def test_no_csrf_token_no_ceremony(client: FlaskClient) -> None:
    answer = client.post("/login/passkey/options", **LOCALHOST)
    assert answer.status_code == 400


def test_registration_needs_a_login_and_excludes_the_persons_passkeys(
    app: Flask, client: FlaskClient, user: factories.UserInfo
) -> None:
    token = token_of(client)
    assert post_json(client, "/account/security/passkeys/options", {}, token).status_code == 302
    passkey = add_passkey(app, user.id)
    assert passkey
    page = client.get("/login", **LOCALHOST)
    client.post(
        "/login", data={"email": user.email, "password": user.password,
                        "csrf_token": csrf_token(page.data)}, **LOCALHOST,
    )  # fmt: skip
    # A passkey makes the password alone not enough: this browser is at the second step.
    step = client.get("/login/second-factor", **LOCALHOST)
    assert step.status_code == 200 and b"Use a passkey" in step.data
    options = post_json(
        client, "/login/second-factor/passkey/options", {}, csrf_token(step.data)
    ).get_json()
    assert [c["id"] for c in options["allowCredentials"]] == [credential_id(user.id, "Laptop")]


def test_someone_elses_passkey_cannot_be_renamed_or_removed(
    app: Flask, logged_in: FlaskClient
) -> None:
    with app.app_context():
        stranger = factories.make_user()
    theirs = add_passkey(app, stranger.id, "Theirs")
    token = csrf_token(logged_in.get("/account/apps").data)
    renamed = logged_in.post(
        f"/account/security/passkeys/{theirs}/rename", data={"name": "Mine", "csrf_token": token}
    )
    removed = logged_in.post(
        f"/account/security/passkeys/{theirs}/remove",
        data={"csrf_token": token, "password": factories.PASSWORD},
    )
    asked = logged_in.get(f"/account/security/passkeys/{theirs}/remove")
    assert renamed.status_code == 404 and removed.status_code == 404 and asked.status_code == 404
    with app.app_context():
        kept = db.session.get_one(Passkey, theirs)
        assert kept.name == "Theirs"
        assert db.session.get_one(User, stranger.id) is not None


def test_a_passkey_is_renamed_within_limits(
    app: Flask, client: FlaskClient, user: factories.UserInfo, fake_clock: FakeClock
) -> None:
    login(client, user.email, user.password)
    mine = add_passkey(app, user.id)
    token = csrf_token(client.get("/account/security").data)
    blank = client.post(
        f"/account/security/passkeys/{mine}/rename", data={"name": "  ", "csrf_token": token}
    )
    assert blank.status_code == 302
    long = client.post(
        f"/account/security/passkeys/{mine}/rename", data={"name": "x" * 101, "csrf_token": token}
    )
    assert long.status_code == 302
    good = client.post(
        f"/account/security/passkeys/{mine}/rename",
        data={"name": " Work  laptop ", "csrf_token": token},
    )
    assert good.status_code == 302
    with app.app_context():
        assert db.session.get_one(Passkey, mine).name == "Work laptop"


def test_removing_a_passkey_asks_for_the_password(
    app: Flask, logged_in: FlaskClient, user: factories.UserInfo
) -> None:
    mine = add_passkey(app, user.id, "Phone")
    path = f"/account/security/passkeys/{mine}/remove"
    page = logged_in.get(path)
    assert page.status_code == 200 and "Remove passkey “Phone”".encode() in page.data
    token = csrf_token(page.data)
    for wrong in ("not my password", ""):
        refused = logged_in.post(path, data={"password": wrong, "csrf_token": token})
        assert refused.status_code == 400
    assert b"That is not your current password." in refused.data or wrong == ""
    with app.app_context():
        assert db.session.get(Passkey, mine) is not None
        assert not list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.event == "passkey.removed"))
        )
    removed = logged_in.post(path, data={"password": user.password, "csrf_token": token})
    assert removed.status_code == 302 and removed.headers["Location"] == "/account/security"
    with app.app_context():
        assert db.session.get(Passkey, mine) is None
    # Sent again: that passkey is gone (not found), never a 500.
    again = logged_in.post(path, data={"password": user.password, "csrf_token": token})
    assert again.status_code == 404
