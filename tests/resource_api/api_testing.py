"""Constants, a controllable clock, token minting and assertion helpers for the API's tests."""

from __future__ import annotations

import re
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import Key

ISSUER = "http://127.0.0.1:5000"
AUDIENCE = "http://127.0.0.1:5001"
REALM = AUDIENCE  # the default realm is the audience
ALL_SCOPES = "openid profile email events:read events:write"
#: 2026-01-01T00:00:00Z; tests move time with FakeClock.advance instead of sleeping.
START = 1_767_225_600.0


class FakeClock:
    """Seconds since the epoch that only move when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def mint_token(
    key: Key,
    *,
    now: float,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """An RFC 9068 access token as the authorization server mints it; keyword arguments replace
    claims, and a claim given as None is left out."""
    defaults: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "client_id": "calendar-app",
        "scope": ALL_SCOPES,
        "iat": int(now),
        "exp": int(now) + 600,
        "jti": uuid.uuid4().hex,
    }
    merged = {name: value for name, value in {**defaults, **claims}.items() if value is not None}
    jose_header = {"alg": "RS256", "typ": "at+jwt", "kid": key.kid, **(header or {})}
    jose_header = {name: value for name, value in jose_header.items() if value is not None}
    return jwt.encode(jose_header, merged, key, default_type=None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


_CHALLENGE_PARAM = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def challenge_params(response: Any) -> dict[str, str]:
    """The auth-params of the response's ``WWW-Authenticate: Bearer ...`` challenge."""
    header = response.headers.get("WWW-Authenticate")
    assert header is not None, "no WWW-Authenticate header"
    assert header.startswith("Bearer "), header
    return dict(_CHALLENGE_PARAM.findall(header))


def assert_bearer_error(
    response: Any, status: int, error: str, *, scope: str | None = None
) -> dict[str, Any]:
    """An RFC 6750 §3 error: status, the code in the challenge and in the JSON body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    params = challenge_params(response)
    assert params["realm"] == REALM
    assert params["error"] == error
    assert params["error_description"]
    if scope is not None:
        assert params["scope"] == scope
    body = response.get_json()
    assert body["error"] == error
    assert body["error_description"] == params["error_description"]
    return body


def assert_invalid_token(response: Any, description_fragment: str) -> None:
    body = assert_bearer_error(response, 401, "invalid_token")
    assert description_fragment in body["error_description"], body["error_description"]


def assert_json_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error, body
    assert body["error_description"]
    return body
