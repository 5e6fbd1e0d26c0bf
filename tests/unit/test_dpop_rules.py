"""The DPoP rules (RFC 9449) as plain functions: binding decisions, thumbprints, URI matching,
stateless nonces."""

from __future__ import annotations

import pytest

import dpopproof
from authserver import policy
from authserver.security.dpop import new_nonce, nonce_is_current

A, B = "a" * 43, "b" * 43


def test_rfc7638_example_thumbprint() -> None:
    """RFC 7638 §3.1's worked example."""
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
        "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
        "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert dpopproof.thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(
    ("sent", "seen", "same"),
    [
        ("https://as.example/token", "https://as.example/token?x=1", True),
        ("HTTPS://AS.example:443/token#f", "https://as.example/token", True),
        ("http://as.example:80", "http://as.example/", True),
        ("https://as.example/token", "https://as.example/Token", False),  # paths are exact
        ("https://as.example:8443/token", "https://as.example/token", False),
        ("http://as.example/token", "https://as.example/token", False),
        ("ftp://as.example/token", "ftp://as.example/token", False),  # not http(s): never
    ],
)
def test_htu_matching(sent: str, seen: str, same: bool) -> None:
    normalized = dpopproof.normalized_uri(sent)
    assert (normalized is not None and normalized == dpopproof.normalized_uri(seen)) is same


@pytest.mark.parametrize(
    ("proof_jkt", "options", "refused"),
    [
        (None, {}, False),  # a bearer request, nothing asked
        (A, {}, False),
        (None, {"client_requires": True}, True),
        (A, {"client_requires": True}, False),
        (A, {"code_jkt": A}, False),
        (B, {"code_jkt": A}, True),
        (None, {"code_jkt": A}, True),
        (A, {"refresh_jkt": A}, False),
        (B, {"refresh_jkt": A}, True),
        (None, {"refresh_jkt": A}, True),
    ],
)
def test_what_a_token_request_must_be_bound_to(proof_jkt, options, refused) -> None:
    options.setdefault("client_requires", False)
    assert (policy.dpop_binding_problem(proof_jkt, **options) is not None) is refused


def test_only_a_public_clients_refresh_tokens_are_bound() -> None:
    assert policy.refresh_token_key(True, A) == A
    assert policy.refresh_token_key(False, A) is None
    assert policy.refresh_token_key(True, None) is None


@pytest.mark.parametrize("value", ["short", A + "a", "+" * 43, "a" * 42 + "="])
def test_a_malformed_dpop_jkt_is_named(value: str) -> None:
    assert policy.dpop_jkt_problem(value) is not None
    assert policy.dpop_jkt_problem(A) is None and policy.dpop_jkt_problem(None) is None


def test_nonces_live_one_to_two_windows_and_need_the_key() -> None:
    window, key = 60, "server-key-" * 3
    nonce = new_nonce(key, 1000.0, window)
    assert nonce_is_current(nonce, key, 1000.0, window)
    assert nonce_is_current(nonce, key, 1079.0, window)  # the next window still takes it
    assert not nonce_is_current(nonce, key, 1140.0, window)  # two windows on: gone
    assert not nonce_is_current(nonce, "another-key-" * 3, 1000.0, window)
    assert not nonce_is_current(nonce + "x", key, 1000.0, window)
