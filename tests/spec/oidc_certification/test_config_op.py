"""The OpenID Foundation's Config OP certification plan (``oidcc-config-certification-test-plan``,
conformance-suite ``OIDCCConfigTestPlan``): its one module, discovery checked against what OpenID
Connect Discovery 1.0 and RFC 8414 require. Variant: server metadata discovered, static client."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .conformance import ISSUER, discovery

#: The metadata names the suite's schema knows (json-schemas/rfc8414/
#: oauth_authorization_server_metadata.json), restricted to those a code-flow OP may publish; any
#: other name earns ``CheckForUnexpectedParametersInServerMetadata``'s warning.
KNOWN_METADATA = frozenset(
    """
    acr_values_supported authorization_endpoint authorization_response_iss_parameter_supported
    backchannel_logout_session_supported backchannel_logout_supported check_session_iframe
    claim_types_supported claims_locales_supported claims_parameter_supported claims_supported
    code_challenge_methods_supported device_authorization_endpoint display_values_supported
    dpop_signing_alg_values_supported end_session_endpoint frontchannel_logout_session_supported
    frontchannel_logout_supported grant_types_supported id_token_encryption_alg_values_supported
    id_token_encryption_enc_values_supported id_token_signing_alg_values_supported
    introspection_endpoint introspection_endpoint_auth_methods_supported
    introspection_endpoint_auth_signing_alg_values_supported issuer jwks_uri op_policy_uri
    op_tos_uri prompt_values_supported pushed_authorization_request_endpoint
    registration_endpoint request_object_signing_alg_values_supported request_parameter_supported
    request_uri_parameter_supported require_pushed_authorization_requests
    require_request_uri_registration response_modes_supported response_types_supported
    revocation_endpoint revocation_endpoint_auth_methods_supported
    revocation_endpoint_auth_signing_alg_values_supported scopes_supported service_documentation
    subject_types_supported token_endpoint token_endpoint_auth_methods_supported
    token_endpoint_auth_signing_alg_values_supported ui_locales_supported userinfo_endpoint
    userinfo_signing_alg_values_supported
    """.split()
)
#: OIDC Discovery §3: REQUIRED (``token_endpoint`` too, unless only the implicit flow is offered).
REQUIRED_METADATA = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
)
OIDC_RESPONSE_TYPES = {
    "code",
    "code id_token",
    "id_token",
    "token id_token",
    "code id_token token",
    "code token",
}
#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")
#: RFC 7517 §9.3 / RFC 7518 §6.3.2, §6.2.2: what a published key must never carry.
PRIVATE_KEY_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def assert_https_url(value: str) -> None:
    parts = urlsplit(value)
    assert parts.scheme == "https" and parts.netloc, value
    assert not parts.fragment, value


def test_oidcc_discovery_endpoint_verification(client):
    """oidcc-discovery-endpoint-verification: "This test ensures that the server's
    configurations (including scopes, response_types, grant_types etc) contains values required
    by the specifications". Its conditions, in order: 200 and JSON (OIDCD-4); a response type of
    OpenID Connect; the document at ``issuer`` + ``/.well-known/openid-configuration``;
    ``issuer`` equal to the one configured, an https URL without query or fragment; the schema's
    required members and no unknown ones; ``subject_types_supported`` public/pairwise;
    ``RS256`` among the ID token algorithms; https authorization, token and UserInfo endpoints;
    a ``jwks_uri`` whose JWKS holds valid public signing keys; ``request``/``request_uri``/
    ``claims`` parameter support (informational); ``claims_supported``; a non-empty
    ``grant_types_supported``; ``openid`` in ``scopes_supported``, each a valid scope-token;
    every ``*_endpoint`` https; ``code_challenge_methods_supported`` an array.
    Expected: passed with one warning (extension members, below)."""
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    metadata = discovery(client)

    assert OIDC_RESPONSE_TYPES & set(metadata["response_types_supported"])
    assert set(metadata["response_types_supported"]) <= OIDC_RESPONSE_TYPES
    assert metadata["issuer"] == ISSUER
    parts = urlsplit(metadata["issuer"])
    assert parts.scheme == "https" and not parts.query and not parts.fragment
    for name in REQUIRED_METADATA:
        assert name in metadata, name
    # The plan's one warning, naming two members outside its schema (RFC 8414 §2 lets a server
    # add members): RFC 9126 registers no auth-methods list for the PAR endpoint, published
    # anyway so that a client can tell which methods pushing accepts; and
    # client_id_metadata_document_supported (draft-ietf-oauth-client-id-metadata-document §4),
    # too new for the suite's schema.
    assert set(metadata) - KNOWN_METADATA == {
        "pushed_authorization_request_endpoint_auth_methods_supported",
        "client_id_metadata_document_supported",
    }
    assert metadata["subject_types_supported"]
    assert set(metadata["subject_types_supported"]) <= {"public", "pairwise"}
    assert "RS256" in metadata["id_token_signing_alg_values_supported"]
    assert "none" not in metadata.get("userinfo_signing_alg_values_supported", [])
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert_https_url(metadata[name])

    jwks = client.get(urlsplit(metadata["jwks_uri"]).path)
    assert jwks.status_code == 200
    keys = jwks.get_json()["keys"]
    assert keys
    kids = [key["kid"] for key in keys]
    assert len(kids) == len(set(kids))
    for key in keys:
        assert key["kty"] == "RSA" and key["n"] and key["e"]
        assert key.get("use", "sig") == "sig"
        assert not PRIVATE_KEY_MEMBERS & set(key)

    for flag in ("request_parameter_supported", "request_uri_parameter_supported"):
        assert isinstance(metadata[flag], bool)
    assert isinstance(metadata["claims_parameter_supported"], bool)
    assert {"sub", "iss", "aud", "exp", "iat"} <= set(metadata["claims_supported"])
    assert metadata["grant_types_supported"]
    assert "authorization_code" in metadata["grant_types_supported"]
    assert "openid" in metadata["scopes_supported"]
    assert all(SCOPE_TOKEN.match(scope) for scope in metadata["scopes_supported"])
    for name, value in metadata.items():
        if name.endswith("_endpoint"):
            assert_https_url(value)
    assert isinstance(metadata["code_challenge_methods_supported"], list)
