"""The RFC 8414 / OIDC Discovery / RFC 9728 self-check's rules, one broken document each."""

from __future__ import annotations

import pytest

from authserver.services.metadata_check import (
    authorization_server_problems,
    challenge_problems,
    metadata_locations,
    protected_resource_metadata_location,
    protected_resource_problems,
)

ISSUER = "https://id.example.com"


def valid_document() -> dict:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/oauth/authorize",
        "token_endpoint": f"{ISSUER}/oauth/token",
        "jwks_uri": f"{ISSUER}/oauth/jwks",
        "scopes_supported": ["openid", "profile"],
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "authorization_response_iss_parameter_supported": True,
    }


def test_a_complete_document_has_no_problem():
    assert authorization_server_problems(valid_document(), ISSUER) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"issuer": "https://other.example.com"}, "RFC 8414 §3.3"),
        ({"issuer": "http://id.example.com"}, "not an https URL"),
        ({"issuer": f"{ISSUER}?tenant=1"}, "query or fragment"),
        ({"token_endpoint": None}, "token_endpoint is missing"),
        ({"token_endpoint": "http://id.example.com/oauth/token"}, "issuer's scheme"),
        ({"response_types_supported": []}, "non-empty array"),
        ({"code_challenge_methods_supported": ["plain"]}, "must list S256"),
        ({"code_challenge_methods_supported": ["S256", "plain"]}, "lists plain"),
        ({"token_endpoint_auth_signing_alg_values_supported": None}, "is required when"),
        ({"token_endpoint_auth_signing_alg_values_supported": ["none"]}, "must not list 'none'"),
        ({"authorization_response_iss_parameter_supported": False}, "RFC 9207"),
        ({"dpop_signing_alg_values_supported": ["HS256"]}, "RFC 9449"),
        ({"require_pushed_authorization_requests": "yes"}, "true or false"),
        ({"jwks_uri": None}, "jwks_uri is missing"),
        ({"id_token_signing_alg_values_supported": ["ES256"]}, "must list RS256"),
    ],
)
def test_each_broken_rule_is_named(change, expected):
    document = {k: v for k, v in {**valid_document(), **change}.items() if v is not None}
    problems = authorization_server_problems(document, ISSUER)
    assert any(expected in p for p in problems), problems


def test_plain_oauth_metadata_needs_no_openid_members():
    document = valid_document()
    del document["id_token_signing_alg_values_supported"], document["subject_types_supported"]
    assert authorization_server_problems(document, ISSUER, openid=False) == []
    assert authorization_server_problems(document, ISSUER) != []


def test_loopback_http_is_the_development_allowance():
    issuer = "http://127.0.0.1:5000"
    document = {
        **valid_document(),
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/oauth/jwks",
    }
    assert authorization_server_problems(document, issuer) == []


def test_a_non_object_is_refused():
    assert authorization_server_problems(["not", "an", "object"], ISSUER)
    assert protected_resource_problems("text", "https://api.example.com", ISSUER)


def test_the_locations_clients_try():
    assert metadata_locations("https://id.example.com") == [
        "https://id.example.com/.well-known/oauth-authorization-server",
        "https://id.example.com/.well-known/openid-configuration",
    ]
    assert metadata_locations("https://id.example.com/tenant/") == [
        "https://id.example.com/.well-known/oauth-authorization-server/tenant",
        "https://id.example.com/.well-known/openid-configuration/tenant",
        "https://id.example.com/tenant/.well-known/openid-configuration",
    ]
    assert (
        protected_resource_metadata_location("https://mcp.example.com/mcp")
        == "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    )


RESOURCE = "https://mcp.example.com/mcp"


def resource_document() -> dict:
    return {
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "scopes_supported": ["events:read"],
        "bearer_methods_supported": ["header"],
    }


def test_a_complete_resource_document_has_no_problem():
    assert protected_resource_problems(resource_document(), RESOURCE, ISSUER) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"resource": "https://mcp.example.com/other"}, "RFC 9728 §3.3"),
        ({"resource": "https://mcp.example.com/mcp#x"}, "query or fragment"),
        ({"authorization_servers": ["https://elsewhere.example"]}, "does not name this issuer"),
        ({"authorization_servers": "https://id.example.com"}, "array of issuer identifiers"),
        ({"bearer_methods_supported": ["cookie"]}, "unknown values"),
        ({"dpop_signing_alg_values_supported": ["none"]}, "RFC 9449"),
        ({"dpop_bound_access_tokens_required": "no"}, "true or false"),
    ],
)
def test_each_broken_resource_rule_is_named(change, expected):
    problems = protected_resource_problems({**resource_document(), **change}, RESOURCE, ISSUER)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [
        (200, None, "not 401"),
        (401, None, "no WWW-Authenticate"),
        (401, 'Bearer realm="x"', "names no resource_metadata"),
        (401, 'Bearer resource_metadata="https://mcp.example.com/elsewhere"', "not https"),
    ],
)
def test_a_challenge_must_name_the_metadata(status, header, expected):
    problems = challenge_problems(status, header, RESOURCE)
    assert problems and expected in problems[0], problems


def test_a_good_challenge_passes():
    header = (
        'Bearer error="invalid_token", '
        'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"'
    )
    assert challenge_problems(401, header, RESOURCE) == []
