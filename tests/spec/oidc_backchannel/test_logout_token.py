"""OpenID Connect Back-Channel Logout 1.0: the logout token (§2.4), how it is sent (§2.5), and
its delivery from the outbox: retried with backoff while the receiver fails or hangs, given up
at the token's expiry, never sent twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from authserver.extensions import db
from authserver.security import outbound
from authserver.services import backchannel, keys, sessions
from tests.helpers import csrf_token
from tests.hostile_server import Answer

from .conftest import (
    RECEIVER_PATH,
    browser_for,
    deliver,
    make_rp,
    messages,
    posted_tokens,
    sign_in,
)

ISSUER = "http://127.0.0.1:5000"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


def log_out(browser, **fields: str) -> None:
    token = csrf_token(browser.get("/account/apps").data)
    assert browser.post("/logout", data={"csrf_token": token, **fields}).status_code == 302


def verified(http, token: str) -> tuple[dict, dict]:
    """As the RP does (§2.6): the signature against the OP's published JWKS."""
    key_set = KeySet.import_key_set(http.get("/oauth/jwks").get_json())
    decoded = jwt.decode(token, key_set, algorithms=["RS256"])
    return dict(decoded.header), dict(decoded.claims)


def test_metadata_advertises_back_channel_logout_with_sid(client) -> None:
    """§2.1: backchannel_logout_supported and backchannel_logout_session_supported."""
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True


def test_the_logout_token_names_the_session_of_the_id_token(
    app, user, rp, receiver, fake_clock
) -> None:
    """§2.4: typ logout+jwt, iss, aud = client_id, iat, exp, jti, the event, sub and the sid
    the ID token carried; no nonce. §2.5: POSTed form-encoded as logout_token."""
    browser = browser_for(app, user)
    id_token = sign_in(browser, rp)["id_token"]
    _, id_claims = verified(browser, id_token)
    assert id_claims["sid"]

    log_out(browser)
    assert receiver.posts == []  # queued, not sent by the request
    run = deliver(app)
    assert run.sent[backchannel.KIND] == 1

    [token] = posted_tokens(receiver)
    header, claims = verified(app.test_client(), token)
    assert header["typ"] == "logout+jwt"
    with app.app_context():
        assert header["kid"] == keys.active_key().kid
    assert claims["iss"] == ISSUER
    assert claims["aud"] == rp.client_id
    assert claims["sub"] == user.subject == id_claims["sub"]
    assert claims["sid"] == id_claims["sid"]
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert claims["iat"] == fake_clock.timestamp()
    assert 60 <= claims["exp"] - claims["iat"] <= 600  # a few minutes
    assert len(claims["jti"]) >= 16
    assert deliver(app).total == 0  # delivered exactly once


def test_a_client_without_a_uri_and_other_sessions_are_not_told(app, user, rp, receiver) -> None:
    untold = make_rp(app, None, name="Untold App")
    browser = browser_for(app, user)
    sign_in(browser, untold)
    elsewhere = browser_for(app, user)
    sign_in(elsewhere, rp)  # the told client, but in another session

    log_out(browser)
    assert messages(app) == []
    assert deliver(app).total == 0 and receiver.posts == []


def test_each_told_client_gets_its_own_token(app, user, rp, receiver) -> None:
    second = make_rp(app, receiver.url(RECEIVER_PATH), name="Second App")
    browser = browser_for(app, user)
    sign_in(browser, rp)
    sign_in(browser, rp)  # signing in twice to one client: still one logout for it
    sign_in(browser, second)

    log_out(browser)
    assert deliver(app).sent[backchannel.KIND] == 2
    audiences = sorted(verified(app.test_client(), t)[1]["aud"] for t in posted_tokens(receiver))
    assert audiences == sorted([rp.client_id, second.client_id])


def test_a_rolled_back_logout_queues_nothing(app, user, rp) -> None:
    """Queued in the transaction of its cause: a logout that does not commit tells nobody."""
    browser = browser_for(app, user)
    sign_in(browser, rp)
    with app.app_context():
        [login] = sessions.sessions_of(db.session.get_one(sessions.User, user.id))
        sessions.end_session(login.sid)
        db.session.rollback()
    assert messages(app) == []


def test_a_receiver_answering_500_is_retried_with_backoff(
    app, user, rp, receiver, fake_clock
) -> None:
    """The SPEC: first retry within 30 s, then backing off, until a 2xx."""
    browser = browser_for(app, user)
    sign_in(browser, rp)
    log_out(browser)
    receiver.answers[RECEIVER_PATH] = Answer(500, b"", headers={})

    assert deliver(app).failed[backchannel.KIND] == 1
    [(_, _, first)] = messages(app)
    first_wait = first.next_attempt_at - fake_clock.current
    assert timedelta(0) < first_wait <= timedelta(seconds=30)
    assert first.last_error and "500" in first.last_error

    assert deliver(app).total == 0  # not before its time
    fake_clock.current = first.next_attempt_at
    assert deliver(app).failed[backchannel.KIND] == 1
    [(_, _, second)] = messages(app)
    assert second.attempts == 2
    assert second.next_attempt_at - fake_clock.current > first_wait / 2  # it backs off

    receiver.answers[RECEIVER_PATH] = Answer(200, b"", headers={})
    fake_clock.current = second.next_attempt_at
    assert deliver(app).sent[backchannel.KIND] == 1
    assert len(receiver.posts) == 3
    [(_, payload, done)] = messages(app)
    assert done.sent_at is not None and payload == {}  # the claims do not stay behind


def test_a_redirect_is_not_followed_and_counts_as_a_failure(app, user, rp, receiver) -> None:
    browser = browser_for(app, user)
    sign_in(browser, rp)
    log_out(browser)
    receiver.answers[RECEIVER_PATH] = Answer(
        302, b"", headers={"Location": receiver.url("/elsewhere")}
    )
    assert deliver(app).failed[backchannel.KIND] == 1
    assert receiver.hits("/elsewhere") == 0


def test_a_receiver_that_hangs_is_a_failure_not_a_stuck_deliverer(
    app, user, rp, receiver, monkeypatch
) -> None:
    monkeypatch.setattr(outbound, "READ_TIMEOUT", 0.2)
    browser = browser_for(app, user)
    sign_in(browser, rp)
    log_out(browser)
    receiver.answers[RECEIVER_PATH] = Answer(200, b"", headers={}, delay=1.0)
    run = deliver(app)
    assert run.failed[backchannel.KIND] == 1
    [(_, _, row)] = messages(app)
    assert "too long" in (row.last_error or "")


def test_given_up_at_the_tokens_expiry(app, user, rp, receiver, fake_clock) -> None:
    """Retried until the token expires, never after: an expired token would be refused anyway."""
    browser = browser_for(app, user)
    sign_in(browser, rp)
    log_out(browser)
    receiver.answers[RECEIVER_PATH] = Answer(503, b"", headers={})
    lifetime = app.config["BACKCHANNEL_LOGOUT_TOKEN_LIFETIME"]
    outcomes = []
    for _ in range(20):
        run = deliver(app)
        outcomes.append(run)
        [(_, _, row)] = messages(app)
        if row.gave_up_at is not None:
            break
        fake_clock.current = max(row.next_attempt_at, fake_clock.current)
    [(_, payload, row)] = messages(app)
    assert row.gave_up_at is not None and payload == {}
    assert row.gave_up_at <= row.created_at + timedelta(seconds=lifetime)
    tokens = posted_tokens(receiver)
    assert 2 <= len(tokens) <= 6
    for token in tokens:
        claims = jwt.decode(
            token, KeySet.import_key_set(app.test_client().get("/oauth/jwks").get_json())
        ).claims
        assert claims["iat"] < claims["exp"]
    fake_clock.advance(3600)
    assert deliver(app).total == 0


@pytest.mark.parametrize("uri", ["http://10.0.0.7/logout", "http://192.168.1.1/logout"])
def test_a_private_address_is_never_posted_to(app, user, uri) -> None:
    """The SSRF guards of every outbound request (security/outbound.py): only public addresses,
    and plain http only to loopback in tests."""
    with app.app_context():
        with pytest.raises(outbound.FetchRefused):
            outbound.post_form(uri, {"logout_token": "x"}, allow_loopback=True)
