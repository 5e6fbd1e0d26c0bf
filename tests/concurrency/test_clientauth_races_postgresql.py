"""Races on PostgreSQL: one client assertion sent at once to several workers authenticates once
(RFC 7523 §3 jti); one pushed request opened at once by several browsers is claimed once
(RFC 9126 §4)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from authserver.extensions import db
from authserver.services import clients
from tests import factories
from tests.helpers import basic_auth, login

pytestmark = pytest.mark.postgresql

ISSUER = "http://127.0.0.1:5000"


def test_one_assertion_sent_at_once_authenticates_once(pg_app):
    key = ECKey.generate_key("P-256", {"kid": "race"})
    with pg_app.app_context():
        row, _ = clients.create_client(
            name="Machine",
            redirect_uris=[],
            scope="events:read",
            grant_types=["client_credentials"],
            auth_method="private_key_jwt",
            jwks={"keys": [key.as_dict(private=False)]},
        )
        db.session.commit()
        client_id = row.client_id
    now = int(pg_app.config["CLOCK"]().timestamp())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "exp": now + 60}
    signed = jwt.encode({"alg": "ES256", "kid": "race"}, {**claims, "jti": uuid.uuid4().hex}, key)
    barrier = threading.Barrier(4)

    def send(_: int) -> int:
        http = pg_app.test_client()
        barrier.wait()
        return http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": signed,
            },
        ).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(send, range(4)))
    assert statuses == [200, 401, 401, 401], statuses


def test_one_pushed_request_opened_at_once_is_claimed_once(pg_app):
    with pg_app.app_context():
        user = factories.make_user()
        app_client = factories.make_client(owner_email=user.email)
    pushed = pg_app.test_client().post(
        "/oauth/par",
        data={
            "response_type": "code",
            "redirect_uri": app_client.redirect_uri,
            "scope": "openid",
            "state": "s",
        },
        headers=basic_auth(app_client.client_id, app_client.secret),
    )
    assert pushed.status_code == 201, pushed.data
    url = "/oauth/authorize?" + urlencode(
        {"client_id": app_client.client_id, "request_uri": pushed.get_json()["request_uri"]}
    )
    browsers = []
    for _ in range(4):
        browser = pg_app.test_client()
        login(browser, user.email, user.password)
        browsers.append(browser)
    barrier = threading.Barrier(4)

    def open_it(browser) -> int:
        barrier.wait()
        return browser.get(url).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(open_it, browsers))
    assert statuses == [200, 400, 400, 400], statuses
