"""The device authorization grant, RFC 8628 (SPEC, "Policy": device grant)."""

from __future__ import annotations

import dataclasses
import re

from authserver import policy
from tests import factories
from tests.helpers import assert_oauth_error, csrf_token, decode_jwt, login

from .conftest import answer, enter, poll, start, started

USER_CODE = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")


def test_device_authorization_response(client, device_client):
    """RFC 8628 §3.2."""
    response = start(client, device_client)
    assert response.status_code == 200, response.data
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert USER_CODE.fullmatch(body["user_code"])
    assert body["verification_uri"] == "http://127.0.0.1:5000/device"
    assert body["verification_uri_complete"] == (
        f"http://127.0.0.1:5000/device?user_code={body['user_code']}"
    )
    assert body["expires_in"] == 600 and body["interval"] == 5
    assert len(body["device_code"]) >= 32


def test_the_whole_flow_and_the_device_code_works_once(
    client, logged_in, device_client, user, fake_clock
):
    body = started(client, device_client)
    assert_oauth_error(poll(client, device_client, body["device_code"]), "authorization_pending")
    # Typed in lower case and without the dash (RFC 8628 §6.1).
    typed = body["user_code"].replace("-", "").lower()
    consent = enter(logged_in, typed)
    assert "Living-room TV" in consent.data.decode()
    done = answer(logged_in, consent)
    assert done.status_code == 200 and "Device connected" in done.data.decode()
    fake_clock.advance(6)
    tokens = poll(client, device_client, body["device_code"])
    assert tokens.status_code == 200, tokens.data
    issued = tokens.get_json()
    assert issued["scope"] == "openid profile offline_access events:read"
    assert "refresh_token" in issued
    _, claims = decode_jwt(client, issued["access_token"])
    assert claims["sub"] == user.subject and claims["client_id"] == device_client.client_id
    fake_clock.advance(6)
    assert_oauth_error(poll(client, device_client, body["device_code"]), "invalid_grant")


def test_the_person_chooses_scopes(client, logged_in, device_client, fake_clock):
    body = started(client, device_client)
    answer(logged_in, enter(logged_in, body["user_code"]), scopes=["openid", "events:read"])
    issued = poll(client, device_client, body["device_code"]).get_json()
    assert issued["scope"] == "openid events:read"
    assert "refresh_token" not in issued  # offline_access was not granted


def test_denied_is_access_denied(client, logged_in, device_client):
    body = started(client, device_client)
    done = answer(logged_in, enter(logged_in, body["user_code"]), decision="deny")
    assert "not connected" in done.data.decode()
    assert_oauth_error(poll(client, device_client, body["device_code"]), "access_denied")


def test_polling_too_fast_is_slow_down_and_the_interval_grows(client, device_client, fake_clock):
    code = started(client, device_client)["device_code"]
    assert_oauth_error(poll(client, device_client, code), "authorization_pending")
    assert_oauth_error(poll(client, device_client, code), "slow_down")  # interval now 10 s
    fake_clock.advance(6)
    assert_oauth_error(poll(client, device_client, code), "slow_down")  # interval now 15 s
    fake_clock.advance(16)
    assert_oauth_error(poll(client, device_client, code), "authorization_pending")


def test_an_expired_device_code_is_expired_token(client, logged_in, device_client, fake_clock):
    body = started(client, device_client)
    fake_clock.advance(601)
    assert_oauth_error(poll(client, device_client, body["device_code"]), "expired_token")
    refused = enter(logged_in, body["user_code"])
    assert refused.status_code == 400 and "not valid" in refused.data.decode()


def test_unknown_user_codes_are_refused_alike(logged_in):
    for typed in ("BCDF-GHJK", "AEIO-UAEI", "short", "BCDF-GHJK-L"):
        refused = enter(logged_in, typed)
        assert refused.status_code == 400, typed
        assert "not valid" in refused.data.decode()
    assert enter(logged_in, "x" * 41).status_code == 400


def test_the_code_is_bound_to_the_person_who_typed_it(
    app, client, logged_in, device_client, user, fake_clock
):
    body = started(client, device_client)
    consent = enter(logged_in, body["user_code"])
    with app.app_context():
        mallory = factories.make_user("mallory@example.com")
    other = app.test_client()
    login(other, mallory.email, mallory.password)
    # Typing it again: refused, as if it did not exist.
    assert enter(other, body["user_code"]).status_code == 400
    # Posting an answer with it, with a valid form of their own: refused, nothing decided.
    own_form = other.get("/device")
    forged = other.post(
        "/device",
        data={
            "csrf_token": csrf_token(own_form.data),
            "user_code": body["user_code"],
            "decision": "allow",
            "scope": ["openid", "events:read"],
        },
    )
    assert "Code not waiting for you" in forged.data.decode()
    assert_oauth_error(poll(client, device_client, body["device_code"]), "authorization_pending")
    # The person who typed it still answers it, and the tokens are theirs.
    assert "Device connected" in answer(logged_in, consent).data.decode()
    fake_clock.advance(6)
    issued = poll(client, device_client, body["device_code"])
    assert issued.status_code == 200, issued.data
    assert decode_jwt(client, issued.get_json()["access_token"])[1]["sub"] == user.subject


def test_an_answer_counts_once(client, logged_in, device_client, fake_clock):
    body = started(client, device_client)
    consent = enter(logged_in, body["user_code"])
    answer(logged_in, consent, decision="deny")
    again = answer(logged_in, consent, decision="allow")
    assert "not connected" not in again.data.decode()
    fake_clock.advance(6)
    assert_oauth_error(poll(client, device_client, body["device_code"]), "access_denied")


def test_a_device_code_polled_by_another_client_is_invalid_grant(app, client, device_client):
    code = started(client, device_client)["device_code"]
    with app.app_context():
        other = factories.make_client(
            public=True, grant_types=[policy.DEVICE_CODE_GRANT], redirect_uris=[]
        )
    assert_oauth_error(poll(client, other, code), "invalid_grant")
    assert_oauth_error(poll(client, device_client, "not-a-code"), "invalid_grant")


def test_a_client_without_the_grant_is_unauthorized_client(client, public_client):
    assert_oauth_error(start(client, public_client, scope="openid"), "unauthorized_client")


def test_a_confidential_client_authenticates(app, client):
    with app.app_context():
        confidential = factories.make_client(
            grant_types=[policy.DEVICE_CODE_GRANT], redirect_uris=[], scope="openid events:read"
        )
    assert start(client, confidential, scope="events:read").status_code == 200
    forged = dataclasses.replace(confidential, secret=confidential.secret + "x")
    assert_oauth_error(start(client, forged, scope="events:read"), "invalid_client", 401)


def test_scopes_must_be_registered(client, device_client):
    assert_oauth_error(start(client, device_client, scope="events:write"), "invalid_scope")
    assert_oauth_error(start(client, device_client, scope="bogus"), "invalid_scope")


def test_a_resource_indicator_is_remembered(client, logged_in, device_client):
    assert_oauth_error(
        start(client, device_client, resource="https://unknown.example/"), "invalid_target"
    )
    body = started(client, device_client, resource="http://127.0.0.1:5001")
    answer(logged_in, enter(logged_in, body["user_code"]))
    issued = poll(client, device_client, body["device_code"]).get_json()
    assert decode_jwt(client, issued["access_token"])[1]["aud"] == "http://127.0.0.1:5001"


def test_the_page_needs_a_login_and_keeps_the_code_from_the_link(client, logged_in):
    anonymous = client.application.test_client()
    response = anonymous.get("/device?user_code=BCDF-GHJK")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page = logged_in.get("/device?user_code=BCDF-GHJK")
    assert 'value="BCDF-GHJK"' in page.data.decode()


def test_the_form_needs_its_csrf_token(logged_in):
    assert logged_in.post("/device", data={"user_code": "BCDF-GHJK"}).status_code == 400


def test_metadata_advertises_the_device_grant(client):
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["device_authorization_endpoint"] == (
        "http://127.0.0.1:5000/oauth/device_authorization"
    )
    assert policy.DEVICE_CODE_GRANT in metadata["grant_types_supported"]


def test_cleanup_removes_device_authorizations_a_day_after_they_expire(
    app, client, device_client, fake_clock
):
    from sqlalchemy import func, select

    from authserver.extensions import db
    from authserver.models import DeviceAuthorization
    from authserver.services.cleanup import cleanup

    started(client, device_client)
    fake_clock.advance(600 + 86_400 + 1)
    live = started(client, device_client)
    with app.app_context():
        assert cleanup(fake_clock()).counts["device_authorizations"] == 1
        assert db.session.scalar(select(func.count(DeviceAuthorization.id))) == 1
    assert_oauth_error(poll(client, device_client, live["device_code"]), "authorization_pending")
