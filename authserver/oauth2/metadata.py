"""One source for the discovery documents (RFC 8414, OpenID Connect Discovery 1.0)."""

from __future__ import annotations

from flask import current_app

from .. import policy
from ..scopes import CATALOGUE
from ..services.claims import supported_claims
from ..services.clients import GRANT_TYPES


def server_metadata() -> dict:
    """What this server implements, and nothing it does not."""
    config = current_app.config
    issuer = config["ISSUER"]
    metadata = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        # OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens always carry sid.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "device_authorization_endpoint": f"{issuer}/oauth/device_authorization",
        "scopes_supported": list(CATALOGUE),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": policy.token_endpoint_auth_methods(),
        "revocation_endpoint_auth_methods_supported": policy.auth_methods("revocation"),
        "introspection_endpoint_auth_methods_supported": policy.auth_methods("introspection"),
        **_assertion_algorithms("token", "revocation", "introspection"),
        "pushed_authorization_request_endpoint_auth_methods_supported": policy.auth_methods(
            "pushed_authorization"
        ),
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": list(policy.DPOP_ALGORITHMS),  # RFC 9449 §5.1
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": supported_claims(),
        "acr_values_supported": list(policy.ACR_VALUES),
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": True,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "service_documentation": f"{issuer}/",
        "pushed_authorization_request_endpoint": f"{issuer}/oauth/par",
        "require_pushed_authorization_requests": policy.must_push(
            False, bool(config["REQUIRE_PUSHED_AUTHORIZATION_REQUESTS"])
        ),
    }
    if config["REGISTRATION_ENABLED"]:
        metadata["registration_endpoint"] = f"{issuer}/oauth/register"
    if config["CIMD_ENABLED"]:
        # draft-ietf-oauth-client-id-metadata-document §4: an https URL may be the client_id.
        metadata["client_id_metadata_document_supported"] = True
    return metadata


def _assertion_algorithms(*endpoints: str) -> dict[str, list[str]]:
    """``<endpoint>_endpoint_auth_signing_alg_values_supported`` (RFC 8414 §2): the algorithms
    of the JWT methods each endpoint accepts."""
    found = {}
    for endpoint in endpoints:
        methods = (
            policy.token_endpoint_auth_methods()
            if endpoint == "token"
            else policy.auth_methods(endpoint)
        )
        algorithms = [
            a for m in policy.JWT_METHODS if m in methods for a in policy.ASSERTION_ALGORITHMS[m]
        ]
        if algorithms:
            found[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] = algorithms
    return found
