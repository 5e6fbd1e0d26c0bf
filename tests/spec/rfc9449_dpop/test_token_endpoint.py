"""RFC 9449 DPoP at the token endpoint: a proof in the ``DPoP`` header binds the access token to
the client's key (``cnf.jkt``, token_type ``DPoP``); every malformed, misdirected, stale or
replayed proof is ``invalid_dpop_proof`` and issues nothing."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import AccessToken
from tests import factories
from tests.helpers import (
    assert_oauth_error,
    basic_auth,
    decode_jwt,
    introspect,
)

from .proofs import jkt, key, mac_signed, proof, public_jwk, unsigned

ISSUER = "http://127.0.0.1:5000"
TOKEN_URL = f"{ISSUER}/oauth/token"


@pytest.fixture
def service(app) -> factories.ClientInfo:
    with app.app_context():
        return factories.make_service_client(scope="events:read")


def client_credentials(http, service, *dpop: str):
    headers = basic_auth(service.client_id, service.secret)
    if dpop:
        headers = [*headers.items(), *(("DPoP", value) for value in dpop)]
    return http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=headers)


def issued_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AccessToken))


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256", "EdDSA"])
def test_a_proof_binds_the_access_token_to_its_key(client, service, alg) -> None:
    """§5 and §6.1: token_type DPoP, and the JWT's cnf.jkt is the key's RFC 7638 thumbprint."""
    response = client_credentials(client, service, proof("POST", TOKEN_URL, alg=alg))
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["token_type"] == "DPoP"
    _, claims = decode_jwt(client, body["access_token"])
    assert claims["cnf"] == {"jkt": jkt(key(alg))}


def test_without_a_proof_the_token_stays_a_bearer_token(client, service) -> None:
    response = client_credentials(client, service)
    assert response.status_code == 200
    assert response.get_json()["token_type"] == "Bearer"
    _, claims = decode_jwt(client, response.get_json()["access_token"])
    assert "cnf" not in claims


def test_introspection_tells_the_binding(client, service, resource_server) -> None:
    """§6.2: the introspection answer carries cnf.jkt and token_type DPoP."""
    token = client_credentials(client, service, proof("POST", TOKEN_URL)).get_json()
    answer = introspect(client, resource_server, token["access_token"]).get_json()
    assert answer["active"] is True
    assert answer["token_type"] == "DPoP"
    assert answer["cnf"] == {"jkt": jkt(key())}
    bearer = client_credentials(client, service).get_json()
    answer = introspect(client, resource_server, bearer["access_token"]).get_json()
    assert answer["token_type"] == "Bearer" and "cnf" not in answer


def test_the_metadata_names_the_proof_algorithms(client) -> None:
    document = client.get("/.well-known/oauth-authorization-server").get_json()
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256", "EdDSA"]


def test_htu_ignores_query_and_fragment_and_default_port(client, service) -> None:
    """§4.3 point 9: the URI without query and fragment, normalized (RFC 3986 §6.2.3)."""
    htu = "HTTP://127.0.0.1:5000/oauth/token?x=1#frag"
    assert client_credentials(client, service, proof("POST", htu)).status_code == 200


def _now() -> float:
    return time.time()


BAD_PROOFS = {
    "not a JWT": lambda: "not-a-jwt",
    "typ is JWT": lambda: proof("POST", TOKEN_URL, header={"typ": "JWT"}),
    "typ missing": lambda: proof("POST", TOKEN_URL, header={"typ": None}),
    "alg none": lambda: unsigned(
        {"typ": "dpop+jwt", "alg": "none", "jwk": public_jwk(key())},
        {"jti": "j1", "htm": "POST", "htu": TOKEN_URL, "iat": int(_now())},
    ),
    "HS256 keyed with the public key": lambda: mac_signed(
        {"typ": "dpop+jwt", "alg": "HS256", "jwk": public_jwk(key())},
        {"jti": "j2", "htm": "POST", "htu": TOKEN_URL, "iat": int(_now())},
        public_jwk(key())["x"].encode(),
    ),
    "private key in jwk": lambda: proof(
        "POST", TOKEN_URL, header={"jwk": dict(key().as_dict(private=True))}
    ),
    "no jwk": lambda: proof("POST", TOKEN_URL, header={"jwk": None}),
    "symmetric jwk": lambda: proof(
        "POST", TOKEN_URL, header={"jwk": {"kty": "oct", "k": "c2VjcmV0"}}
    ),
    "signed by another key": lambda: proof(
        "POST", TOKEN_URL, header={"jwk": public_jwk(key("ES256", "other"))}
    ),
    "alg and key disagree": lambda: proof(
        "POST", TOKEN_URL, alg="RS256", header={"jwk": public_jwk(key("ES256"))}
    ),
    "wrong htm": lambda: proof("GET", TOKEN_URL),
    "wrong htu path": lambda: proof("POST", f"{ISSUER}/oauth/par"),
    "wrong htu host": lambda: proof("POST", "http://evil.example/oauth/token"),
    "stale iat": lambda: proof("POST", TOKEN_URL, iat=_now() - 300),
    "future iat": lambda: proof("POST", TOKEN_URL, iat=_now() + 300),
    "no jti": lambda: proof("POST", TOKEN_URL, claims={"jti": None}),
    "iat not a number": lambda: proof("POST", TOKEN_URL, claims={"iat": "now"}),
    "header is a JSON array": lambda: "WyJhbGciXQ.e30.c2ln",
    "header is not UTF-8": lambda: "_-8.e30.c2ln",
    "kty is a list": lambda: proof(
        "POST", TOKEN_URL, header={"jwk": {**public_jwk(key()), "kty": ["EC"]}}
    ),
    "claims are a JSON string": lambda: unsigned(
        {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key())}, "claims"
    ),
    "far too long": lambda: proof("POST", TOKEN_URL, claims={"pad": "x" * 5000}),
    "empty": lambda: "",
}


@pytest.mark.parametrize("make", BAD_PROOFS.values(), ids=BAD_PROOFS.keys())
def test_a_bad_proof_is_invalid_dpop_proof_and_issues_nothing(app, client, service, make) -> None:
    before = issued_count(app)
    response = client_credentials(client, service, make())
    body = assert_oauth_error(response, "invalid_dpop_proof")
    assert body["error_description"]
    assert issued_count(app) == before


def test_two_dpop_headers_are_refused(client, service) -> None:
    """§4.3 point 1: not more than one DPoP header."""
    response = client_credentials(
        client, service, proof("POST", TOKEN_URL), proof("POST", TOKEN_URL)
    )
    assert_oauth_error(response, "invalid_dpop_proof")


def test_a_proof_works_once(app, client, service) -> None:
    """§11.1: a replayed proof (same jti and key) is refused, over every worker and node."""
    replayed = proof("POST", TOKEN_URL)
    assert client_credentials(client, service, replayed).status_code == 200
    before = issued_count(app)
    assert_oauth_error(client_credentials(client, service, replayed), "invalid_dpop_proof")
    assert issued_count(app) == before


def test_the_same_jti_from_another_key_is_another_proof(client, service) -> None:
    assert client_credentials(client, service, proof("POST", TOKEN_URL, jti="x")).status_code == 200
    other = proof("POST", TOKEN_URL, jti="x", private=key("ES256", "other"))
    assert client_credentials(client, service, other).status_code == 200


def test_a_client_registered_for_dpop_needs_a_proof(app, client) -> None:
    """RFC 9449 §5.2 dpop_bound_access_tokens: a request without a proof is refused."""
    with app.app_context():
        bound = factories.make_service_client(scope="events:read", dpop_bound_access_tokens=True)
    assert_oauth_error(client_credentials(client, bound), "invalid_dpop_proof")
    assert client_credentials(client, bound, proof("POST", TOKEN_URL)).status_code == 200
