"""RFC 7523 §2.2 JWT client authentication: private_key_jwt (RS256, ES256, EdDSA) and
client_secret_jwt (HS256) at the token, revocation and introspection endpoints; forged,
expired, replayed and wrongly addressed assertions; keys inline or at a jwks_uri fetched under
the SSRF guards."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey

from authserver.extensions import db
from authserver.services import client_keys, clients
from tests.conftest import FakeClock
from tests.helpers import assert_oauth_error, basic_auth
from tests.hostile_server import Answer, HostileServer, running_server

ISSUER = "http://127.0.0.1:5000"
TOKEN_URL = f"{ISSUER}/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def app_config() -> dict:
    return {"OUTBOUND_ALLOW_LOOPBACK": True}


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    client_keys.forget_fetched_keys()
    yield
    client_keys.forget_fetched_keys()


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, {"kid": "rsa-1"})


def public_jwks(*keys: Key) -> dict:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def register(app: Flask, method: str, **fields: object) -> tuple[str, str | None]:
    with app.app_context():
        client, secret = clients.create_client(
            name="Machine",
            redirect_uris=[],
            scope="events:read",
            grant_types=["client_credentials"],
            auth_method=method,
            **fields,
        )
        db.session.commit()
        return client.client_id, secret


def assertion(
    key: Key,
    client_id: str,
    now: int,
    alg: str = "RS256",
    *,
    kid: str | None = "default",
    **overrides: object,
) -> str:
    claims: dict = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": now + 60,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    header = {"alg": alg}
    if kid == "default" and key.kid:
        header["kid"] = key.kid
    elif kid not in (None, "default"):
        header["kid"] = kid
    return jwt.encode(header, claims, key, algorithms=[alg])


def token_request(http: FlaskClient, signed: str, **extra: str):
    return http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
            **extra,
        },
    )


@pytest.mark.parametrize(
    ("alg", "make_key"),
    [
        ("RS256", lambda: RSAKey.generate_key(2048, {"kid": "r"})),
        ("ES256", lambda: ECKey.generate_key("P-256", {"kid": "e"})),
        ("EdDSA", lambda: OKPKey.generate_key("Ed25519", {"kid": "o"})),
        ("Ed25519", lambda: OKPKey.generate_key("Ed25519", {"kid": "o"})),
    ],
)
def test_private_key_jwt_gets_a_token(app, client, fake_clock: FakeClock, alg, make_key) -> None:
    key = make_key()
    client_id, secret = register(app, "private_key_jwt", jwks=public_jwks(key))
    assert secret is None  # a key-pair client has no secret at all
    response = token_request(client, assertion(key, client_id, fake_clock.timestamp(), alg))
    assert response.status_code == 200, response.data
    assert response.get_json()["token_type"] == "Bearer"


def test_client_secret_jwt_gets_a_token(app, client, fake_clock: FakeClock) -> None:
    client_id, secret = register(app, "client_secret_jwt")
    assert secret
    signed = assertion(OctKey.import_key(secret), client_id, fake_clock.timestamp(), "HS256")
    response = token_request(client, signed)
    assert response.status_code == 200, response.data


def test_client_secret_jwt_secret_is_stored_sealed_not_plain(app) -> None:
    client_id, secret = register(app, "client_secret_jwt")
    with app.app_context():
        row = clients.find_client(client_id)
        assert row.sealed_secret and secret not in row.sealed_secret
        assert row.client_secret_hash != secret


def test_a_rotated_secret_signs_and_the_old_one_no_longer_does(app, client, fake_clock) -> None:
    client_id, old = register(app, "client_secret_jwt")
    with app.app_context():
        new = clients.rotate_secret(clients.find_client(client_id), grace_seconds=3600)
        db.session.commit()
    now = fake_clock.timestamp()
    stale = token_request(client, assertion(OctKey.import_key(old), client_id, now, "HS256"))
    assert_oauth_error(stale, "invalid_client", 401)
    fresh = token_request(client, assertion(OctKey.import_key(new), client_id, now, "HS256"))
    assert fresh.status_code == 200, fresh.data


def test_forged_signature_is_invalid_client(app, client, fake_clock, rsa_key) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    forger = RSAKey.generate_key(2048, {"kid": "rsa-1"})
    response = token_request(client, assertion(forger, client_id, fake_clock.timestamp()))
    assert_oauth_error(response, "invalid_client", 401)


def _compact(header: dict, claims: dict, sign) -> str:
    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).decode().rstrip("=")

    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}"
    return f"{signing_input}.{part(sign(signing_input.encode()))}"


def test_public_key_as_hmac_secret_is_refused(app, client, fake_clock, rsa_key) -> None:
    """Algorithm confusion: HS256 "signed" with the registered public key's bytes."""
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    pem = rsa_key.as_pem(private=False)
    now = fake_clock.timestamp()
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "exp": now + 60, "jti": "c"}
    forged = _compact(
        {"alg": "HS256", "kid": "rsa-1"},
        claims,
        lambda data: hmac.new(pem, data, hashlib.sha256).digest(),
    )
    assert_oauth_error(token_request(client, forged), "invalid_client", 401)


def test_unsigned_assertion_is_refused(app, client, fake_clock, rsa_key) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    now = fake_clock.timestamp()
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "exp": now + 60, "jti": "x"}
    unsigned = _compact({"alg": "none"}, claims, lambda data: b"")
    assert_oauth_error(token_request(client, unsigned), "invalid_client", 401)


def test_expired_assertion_is_refused(app, client, fake_clock, rsa_key) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    signed = assertion(rsa_key, client_id, fake_clock.timestamp())
    fake_clock.advance(60 + 61)  # its exp plus the leeway
    body = assert_oauth_error(token_request(client, signed), "invalid_client", 401)
    assert "expired" in body["error_description"]


def test_exp_far_ahead_is_refused(app, client, fake_clock, rsa_key) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    now = fake_clock.timestamp()
    signed = assertion(rsa_key, client_id, now, exp=now + 3600 + 61 + 1)
    assert_oauth_error(token_request(client, signed), "invalid_client", 401)


@pytest.mark.parametrize("missing", ["exp", "jti"])
def test_exp_and_jti_are_required(app, client, fake_clock, rsa_key, missing) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    signed = assertion(rsa_key, client_id, fake_clock.timestamp(), **{missing: None})
    assert_oauth_error(token_request(client, signed), "invalid_client", 401)


def test_replayed_assertion_is_refused_even_at_another_endpoint(
    app, client, fake_clock, rsa_key
) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    signed = assertion(rsa_key, client_id, fake_clock.timestamp(), aud=ISSUER)
    first = token_request(client, signed)
    assert first.status_code == 200, first.data
    body = assert_oauth_error(token_request(client, signed), "invalid_client", 401)
    assert "used before" in body["error_description"]
    again = client.post(
        "/oauth/introspect",
        data={
            "token": first.get_json()["access_token"],
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        },
    )
    assert_oauth_error(again, "invalid_client", 401)


def test_replay_is_refused_by_another_app_on_the_same_database(
    app, client, fake_clock, rsa_key, test_database, tmp_path, signing_pem
) -> None:
    """Two workers (or nodes) share the record of used assertions: the database."""
    from tests.conftest import _make_app

    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    signed = assertion(rsa_key, client_id, fake_clock.timestamp())
    assert token_request(client, signed).status_code == 200
    other = _make_app(test_database, tmp_path / "other", CLOCK=fake_clock)
    try:
        response = token_request(other.test_client(), signed)
        assert_oauth_error(response, "invalid_client", 401)
    finally:
        with other.app_context():
            db.engine.dispose()  # its connections, closed now rather than by the collector


@pytest.mark.parametrize(
    "aud",
    [
        "https://elsewhere.example/oauth/token",
        f"{ISSUER}/oauth/tokens",
        ["https://elsewhere.example"],
        123,
    ],
)
def test_wrongly_addressed_assertion_is_refused(app, client, fake_clock, rsa_key, aud) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    signed = assertion(rsa_key, client_id, fake_clock.timestamp(), aud=aud)
    body = assert_oauth_error(token_request(client, signed), "invalid_client", 401)
    assert "aud" in body["error_description"]


@pytest.mark.parametrize("aud", [ISSUER, TOKEN_URL, [f"{ISSUER}/other", ISSUER]])
def test_issuer_or_endpoint_is_the_audience(app, client, fake_clock, rsa_key, aud) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    response = token_request(client, assertion(rsa_key, client_id, fake_clock.timestamp(), aud=aud))
    assert response.status_code == 200, response.data


def test_iss_must_be_the_client(app, client, fake_clock, rsa_key) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    signed = assertion(rsa_key, client_id, fake_clock.timestamp(), iss="someone-else")
    assert_oauth_error(token_request(client, signed), "invalid_client", 401)


def test_client_id_must_match_the_assertion(app, client, fake_clock, rsa_key) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    signed = assertion(rsa_key, client_id, fake_clock.timestamp())
    response = token_request(client, signed, client_id="another-client")
    assert_oauth_error(response, "invalid_client", 401)


def test_a_secret_client_cannot_switch_to_assertions(app, client, fake_clock) -> None:
    client_id, secret = register(app, "client_secret_basic")
    signed = assertion(OctKey.import_key(secret), client_id, fake_clock.timestamp(), "HS256")
    assert_oauth_error(token_request(client, signed), "invalid_client", 401)


def test_a_key_pair_client_cannot_use_the_other_jwt_method(app, client, fake_clock) -> None:
    client_id, secret = register(app, "client_secret_jwt")
    key = RSAKey.generate_key(2048)
    signed = assertion(key, client_id, fake_clock.timestamp(), "RS256")
    assert_oauth_error(token_request(client, signed), "invalid_client", 401)


def test_assertion_and_basic_at_once_is_invalid_request(app, client, fake_clock, rsa_key) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    other_id, other_secret = register(app, "client_secret_basic")
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(rsa_key, client_id, fake_clock.timestamp()),
        },
        headers=basic_auth(other_id, other_secret),
    )
    assert_oauth_error(response, "invalid_request")


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "e30.e30.", "x" * 5000])
def test_garbage_assertions_are_invalid_client_never_500(app, client, garbage) -> None:
    response = token_request(client, garbage)
    assert response.status_code in (400, 401), response.data
    assert response.get_json()["error"] == "invalid_client"


def test_revocation_and_introspection_accept_assertions(app, client, fake_clock, rsa_key) -> None:
    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    now = fake_clock.timestamp()
    token = token_request(client, assertion(rsa_key, client_id, now)).get_json()["access_token"]
    for path in ("/oauth/introspect", "/oauth/revoke"):
        response = client.post(
            path,
            data={
                "token": token,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(rsa_key, client_id, now, aud=f"{ISSUER}{path}"),
            },
        )
        assert response.status_code == 200, (path, response.data)
    # The endpoint's own URL is its own: an assertion for the revocation endpoint does not
    # pass at introspection.
    misdirected = client.post(
        "/oauth/introspect",
        data={
            "token": token,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(rsa_key, client_id, now, aud=f"{ISSUER}/oauth/revoke"),
        },
    )
    assert_oauth_error(misdirected, "invalid_client", 401)


# --- keys at a jwks_uri ---------------------------------------------------------------------


@pytest.fixture
def keyhost() -> Iterator[HostileServer]:
    yield from running_server()


def test_jwks_uri_is_fetched_once_and_cached(app, client, fake_clock, rsa_key, keyhost) -> None:
    uri = keyhost.serve_json("/jwks", public_jwks(rsa_key))
    client_id, _ = register(app, "private_key_jwt", jwks_uri=uri)
    for _ in range(2):
        response = token_request(client, assertion(rsa_key, client_id, fake_clock.timestamp()))
        assert response.status_code == 200, response.data
    assert keyhost.hits("/jwks") == 1


def test_unknown_kid_refetches_once_then_waits(
    app, client, fake_clock, rsa_key, keyhost, monkeypatch
) -> None:
    uri = keyhost.serve_json("/jwks", public_jwks(rsa_key))
    client_id, _ = register(app, "private_key_jwt", jwks_uri=uri)
    now = fake_clock.timestamp()
    assert token_request(client, assertion(rsa_key, client_id, now)).status_code == 200
    monkeypatch.setattr(client_keys, "REFETCH_INTERVAL", 0)
    # The client rotates: its new key is published, an assertion names it.
    rotated = RSAKey.generate_key(2048, {"kid": "rsa-2"})
    keyhost.serve_json("/jwks", public_jwks(rsa_key, rotated))
    assert token_request(client, assertion(rotated, client_id, now)).status_code == 200
    assert keyhost.hits("/jwks") == 2
    # Made-up kids do not make us fetch again and again.
    monkeypatch.setattr(client_keys, "REFETCH_INTERVAL", 3600)
    for n in range(3):
        stranger = RSAKey.generate_key(2048, {"kid": f"made-up-{n}"})
        refused = token_request(client, assertion(stranger, client_id, now))
        assert_oauth_error(refused, "invalid_client", 401)
    assert keyhost.hits("/jwks") == 2


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Answer(body=b'{"keys": [' + b'{"kty": "RSA"},' * 5000 + b"{}]}"), "larger"),
        (Answer(302, b"", {"Location": "http://169.254.169.254/latest/meta-data"}), "302"),
        (Answer(body=b"<html></html>", headers={"Content-Type": "text/html"}), "application/json"),
        (Answer(body=b'{"keys": "no"}'), "keys"),
    ],
)
def test_hostile_jwks_uri_is_invalid_client_never_500(
    app, client, fake_clock, rsa_key, keyhost, answer, reason
) -> None:
    keyhost.answers["/jwks"] = answer
    client_id, _ = register(app, "private_key_jwt", jwks_uri=keyhost.url("/jwks"))
    response = token_request(client, assertion(rsa_key, client_id, fake_clock.timestamp()))
    body = assert_oauth_error(response, "invalid_client", 401)
    assert reason in body["error_description"]


def test_slow_jwks_uri_is_cut_off(app, client, fake_clock, rsa_key, keyhost, monkeypatch) -> None:
    from authserver.security import outbound

    monkeypatch.setattr(outbound, "READ_TIMEOUT", 0.3)
    keyhost.answers["/jwks"] = Answer(body=b"{}", delay=2)
    client_id, _ = register(app, "private_key_jwt", jwks_uri=keyhost.url("/jwks"))
    response = token_request(client, assertion(rsa_key, client_id, fake_clock.timestamp()))
    body = assert_oauth_error(response, "invalid_client", 401)
    assert "too long" in body["error_description"]


def test_jwks_uri_at_a_private_address_is_never_fetched(
    app, client, fake_clock, rsa_key, keyhost
) -> None:
    uri = keyhost.serve_json("/jwks", public_jwks(rsa_key))
    client_id, _ = register(app, "private_key_jwt", jwks_uri=uri.replace("http:", "https:"))
    app.config["OUTBOUND_ALLOW_LOOPBACK"] = False  # production: loopback is private
    response = token_request(client, assertion(rsa_key, client_id, fake_clock.timestamp()))
    body = assert_oauth_error(response, "invalid_client", 401)
    assert "loopback" in body["error_description"]
    assert keyhost.requests == []


# --- registering keys -------------------------------------------------------------------------


def test_registration_refuses_private_keys_and_bad_key_sets(app, rsa_key) -> None:
    with app.app_context():
        for fields, field in [
            ({"jwks": {"keys": [rsa_key.as_dict(private=True)]}}, "jwks"),
            ({"jwks": {"keys": []}}, "jwks"),
            ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "jwks"),
            ({"jwks": {"keys": [{**rsa_key.as_dict(private=False), "n": "AQAB" * 40}]}}, "jwks"),
            ({}, "jwks"),
            ({"jwks": public_jwks(rsa_key), "jwks_uri": "https://k.example/jwks"}, "jwks"),
            ({"jwks_uri": "ftp://k.example/jwks"}, "jwks_uri"),
        ]:
            with pytest.raises(clients.ServiceError) as refused:
                clients.create_client(
                    name="M",
                    redirect_uris=[],
                    scope="events:read",
                    grant_types=["client_credentials"],
                    auth_method="private_key_jwt",
                    **fields,
                )
            assert refused.value.field == field, fields
        with pytest.raises(clients.ServiceError):
            clients.create_client(
                name="M",
                redirect_uris=[],
                scope="events:read",
                grant_types=["client_credentials"],
                auth_method="client_secret_basic",
                jwks=public_jwks(rsa_key),
            )


def test_metadata_advertises_the_methods_and_algorithms(client) -> None:
    metadata = client.get("/.well-known/openid-configuration").get_json()
    for endpoint in ("token", "revocation", "introspection"):
        assert "private_key_jwt" in metadata[f"{endpoint}_endpoint_auth_methods_supported"]
        assert "client_secret_jwt" in metadata[f"{endpoint}_endpoint_auth_methods_supported"]
        algorithms = metadata[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert algorithms == ["RS256", "ES256", "EdDSA", "Ed25519", "HS256"]


# --- RFC 7591 registration and the CLI ------------------------------------------------------


@pytest.fixture
def registration_open(app) -> None:
    app.config["REGISTRATION_ENABLED"] = True


def test_dynamic_registration_of_a_key_pair_client(
    app, client, fake_clock, rsa_key, registration_open
) -> None:
    response = client.post(
        "/oauth/register",
        json={
            "client_name": "Bank",
            "grant_types": ["client_credentials"],
            "redirect_uris": [],
            "scope": "events:read",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": public_jwks(rsa_key),
        },
    )
    assert response.status_code == 201, response.data
    info = response.get_json()
    assert "client_secret" not in info
    assert info["token_endpoint_auth_method"] == "private_key_jwt"
    assert info["jwks"] == public_jwks(rsa_key)
    signed = assertion(rsa_key, info["client_id"], fake_clock.timestamp())
    assert token_request(client, signed).status_code == 200


def test_dynamic_registration_refuses_a_private_key(client, rsa_key, registration_open) -> None:
    response = client.post(
        "/oauth/register",
        json={
            "grant_types": ["client_credentials"],
            "scope": "events:read",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [rsa_key.as_dict(private=True)]},
        },
    )
    body = assert_oauth_error(response, "invalid_client_metadata")
    assert "jwks" in body["error_description"]


def test_dynamic_registration_of_a_client_secret_jwt_client(
    app, client, fake_clock, registration_open
) -> None:
    response = client.post(
        "/oauth/register",
        json={
            "grant_types": ["client_credentials"],
            "scope": "events:read",
            "token_endpoint_auth_method": "client_secret_jwt",
        },
    )
    assert response.status_code == 201, response.data
    info = response.get_json()
    signed = assertion(
        OctKey.import_key(info["client_secret"]), info["client_id"], fake_clock.timestamp(), "HS256"
    )
    assert token_request(client, signed).status_code == 200


def test_cli_registers_a_key_pair_client_from_a_jwks_file(
    app, client, fake_clock, rsa_key, tmp_path
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(public_jwks(rsa_key)))
    result = app.test_cli_runner().invoke(
        args=[
            "clients", "create", "--name", "Bank", "--scope", "events:read",
            "--grant-type", "client_credentials", "--auth-method", "private_key_jwt",
            "--jwks", str(path), "--json",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert "client_secret" not in created
    signed = assertion(rsa_key, created["client_id"], fake_clock.timestamp())
    assert token_request(client, signed).status_code == 200


def test_cli_refuses_a_private_jwks_file(app, rsa_key, tmp_path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa_key.as_dict(private=True)]}))
    result = app.test_cli_runner().invoke(
        args=[
            "clients", "create", "--name", "Bank", "--scope", "events:read",
            "--grant-type", "client_credentials", "--auth-method", "private_key_jwt",
            "--jwks", str(path),
        ]
    )  # fmt: skip
    assert result.exit_code != 0
    assert "public keys only" in result.output


# --- the client's record ---------------------------------------------------------------------


def test_a_forged_assertion_goes_on_the_record_of_the_client_it_names(
    app, client, fake_clock, rsa_key
) -> None:
    """Its developer sees the refusals (console, Recent activity), as for a wrong secret; the
    named client is read from the unverified assertion, and charged, like a Basic user name."""
    from sqlalchemy import select

    from authserver.models import AuditEvent

    client_id, _ = register(app, "private_key_jwt", jwks=public_jwks(rsa_key))
    forger = RSAKey.generate_key(2048, {"kid": "rsa-1"})
    refused = token_request(client, assertion(forger, client_id, fake_clock.timestamp()))
    assert_oauth_error(refused, "invalid_client", 401)
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.client_id == client_id, AuditEvent.event == "token.refused"
            )
        ).all()
    assert len(events) == 1
    assert events[0].actor == "anonymous"  # nothing proved it came from the client
