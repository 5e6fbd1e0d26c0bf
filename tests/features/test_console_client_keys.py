"""The developer console registers clients that authenticate with JWTs (RFC 7523): pasted
public keys or their URL for private_key_jwt, a secret for client_secret_jwt."""

from __future__ import annotations

import json
import uuid

from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from tests.features.test_console import credentials_shown, register

ISSUER = "http://127.0.0.1:5000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _token(http, key, alg: str, client_id: str, now: int):
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{ISSUER}/oauth/token",
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    signed = jwt.encode({"alg": alg}, claims, key)
    return http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "events:read",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        },
    )


def test_a_developer_registers_a_private_key_jwt_client(logged_in, fake_clock) -> None:
    key = RSAKey.generate_key(2048, {"kid": "console"})
    response = register(
        logged_in,
        auth_method="private_key_jwt",
        jwks=json.dumps({"keys": [key.as_dict(private=False)]}),
    )
    assert response.status_code == 200, response.data
    client_id, secret = credentials_shown(response)
    assert secret is None
    assert b"private_key_jwt" in response.data
    token = _token(logged_in, key, "RS256", client_id, fake_clock.timestamp())
    assert token.status_code == 200, token.data


def test_a_pasted_private_key_is_refused_with_the_reason(logged_in) -> None:
    key = RSAKey.generate_key(2048)
    response = register(
        logged_in,
        auth_method="private_key_jwt",
        jwks=json.dumps({"keys": [key.as_dict(private=True)]}),
    )
    assert response.status_code == 400
    assert b"public keys only" in response.data


def test_private_key_jwt_without_keys_is_refused(logged_in) -> None:
    response = register(logged_in, auth_method="private_key_jwt", jwks="not json")
    assert response.status_code == 400
    assert b"not valid JSON" in response.data


def test_a_developer_registers_a_client_secret_jwt_client(logged_in, fake_clock) -> None:
    response = register(logged_in, auth_method="client_secret_jwt")
    client_id, secret = credentials_shown(response)
    assert secret
    token = _token(logged_in, OctKey.import_key(secret), "HS256", client_id, fake_clock.timestamp())
    assert token.status_code == 200, token.data
