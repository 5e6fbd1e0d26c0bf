"""The demo client's side of OpenID Connect Back-Channel Logout 1.0: logging out at Authserver
ends the demo client's sign-in from that session (and only that one); a logout token that is
forged, for another client, expired, an ID token or untyped changes nothing (§2.6, §2.8)."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from authserver import mail
from authserver.security import outbound
from authserver.security.signing import sign_jwt
from authserver.services import backchannel, keys, outbox
from examples.demo_client.models import SignIn, db
from tests.demo_client.conftest import DEMO, DEMO_EMAIL, DEMO_PASSWORD, ISSUER, sign_in
from tests.helpers import csrf_token, login

EVENT = "http://schemas.openid.net/event/backchannel-logout"


def sign_ins(demo) -> int:
    with demo.app.app_context():
        return db.session.scalar(select(func.count()).select_from(SignIn)) or 0


def deliver_to(app: Flask, demo, monkeypatch) -> list[int]:
    """Run the server's outbox, its POSTs handed to the demo app (in-process) instead of a
    socket; the demo's answers."""
    answers: list[int] = []
    receiver = demo.app.test_client()

    def post_in_process(url: str, fields: dict, **_: object) -> int:
        assert url == f"{DEMO}/backchannel-logout"
        answers.append(receiver.post(url[len(DEMO) :], data=fields).status_code)
        return answers[-1]

    monkeypatch.setattr(outbound, "post_form", post_in_process)
    with app.app_context():
        run = outbox.deliver_due(mail.DELIVERERS)
    assert run.failed[backchannel.KIND] == 0
    return answers


def test_the_demo_registration_names_its_receiver(demo_registration) -> None:
    assert demo_registration["backchannel_logout_uri"] == f"{DEMO}/backchannel-logout"


def test_logging_out_at_the_server_ends_that_sessions_sign_in_only(
    app, demo, server_browser, monkeypatch
) -> None:
    here = demo.browser()
    sign_in(here, server_browser)
    other_server = app.test_client()  # the same person, another session at Authserver
    assert login(other_server, DEMO_EMAIL, DEMO_PASSWORD).status_code == 302
    there = demo.browser()
    sign_in(there, other_server)
    assert sign_ins(demo) == 2

    token = csrf_token(server_browser.get("/account/apps").data)
    assert server_browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert sign_ins(demo) == 2  # queued, not sent by the request

    assert deliver_to(app, demo, monkeypatch) == [200]
    assert sign_ins(demo) == 1
    assert here.get("/dashboard").headers["Location"] == "/"  # signed out here
    assert there.get("/dashboard").status_code == 200  # the other session's stays


def claims_for(app: Flask, subject: str, **changes: object) -> dict:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "demo-client",
        "iat": now,
        "exp": now + 120,
        "jti": "j" * 22,
        "sub": subject,
        "events": {EVENT: {}},
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def server_signed(app: Flask, claims: dict, typ: str = "logout+jwt") -> str:
    with app.app_context():
        return sign_jwt(claims, keys.private_key(keys.active_key()), typ=typ)


def subject_of(demo) -> str:
    with demo.app.app_context():
        sign_in_row = db.session.scalars(select(SignIn)).one()
        return sign_in_row.user.subject


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"aud": "another-client"}, id="wrong-aud"),
        pytest.param({"iss": "https://evil.example.com"}, id="wrong-iss"),
        pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
        pytest.param({"iat": int(time.time()) + 3600}, id="issued-in-the-future"),
        pytest.param({"nonce": "n-0S6_WzA2Mj"}, id="nonce"),
        pytest.param({"events": None}, id="no-event"),
        pytest.param({"events": {"urn:other": {}}}, id="other-event"),
        pytest.param({"sub": None}, id="neither-sub-nor-sid"),
    ],
)
def test_a_bad_logout_token_is_refused_and_changes_nothing(
    app, demo, server_browser, change
) -> None:
    browser = demo.browser()
    sign_in(browser, server_browser)
    token = server_signed(app, claims_for(app, subject_of(demo), **change))
    response = demo.app.test_client().post("/backchannel-logout", data={"logout_token": token})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"
    assert sign_ins(demo) == 1


def test_an_id_token_typed_token_and_a_forged_signature_are_refused(
    app, demo, server_browser
) -> None:
    browser = demo.browser()
    sign_in(browser, server_browser)
    claims = claims_for(app, subject_of(demo))
    forger = RSAKey.generate_key(2048, parameters={"kid": "forger"})
    with app.app_context():
        kid = keys.active_key().kid
    impostor = RSAKey.generate_key(2048, parameters={"kid": kid})  # the server's kid, not its key
    for token in (
        server_signed(app, claims, typ="JWT"),
        sign_jwt(claims, forger, typ="logout+jwt"),
        sign_jwt(claims, impostor, typ="logout+jwt"),
        "not-a-jwt",
        "",
    ):
        response = demo.app.test_client().post("/backchannel-logout", data={"logout_token": token})
        assert response.status_code == 400, token
    assert sign_ins(demo) == 1


def test_a_valid_token_without_sid_ends_every_sign_in_of_the_person(
    app, demo, server_browser
) -> None:
    browser = demo.browser()
    sign_in(browser, server_browser)
    token = server_signed(app, claims_for(app, subject_of(demo)))
    response = demo.app.test_client().post("/backchannel-logout", data={"logout_token": token})
    assert response.status_code == 200
    assert sign_ins(demo) == 0
    # Sent again (a retry whose answer was lost): still fine, nothing left to end.
    again = demo.app.test_client().post("/backchannel-logout", data={"logout_token": token})
    assert again.status_code == 200
