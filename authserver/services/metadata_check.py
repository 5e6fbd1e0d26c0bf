"""The published metadata held against the RFCs that define it: RFC 8414 (authorization server
metadata, and where clients look for it), OpenID Connect Discovery 1.0 and RFC 9728 (protected
resource metadata, and the challenge that names it).

Plain functions of the documents: each returns the problems it found, one sentence each with
the section it comes from; no problem means the document passes. ``authserver check`` runs them
on this server's documents as served in-process, ``authserver check --url`` on a running node's
and ``--resource`` on a resource server's, over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..config import is_loopback_url

#: Endpoint members of RFC 8414 §2 / OIDC Discovery §3 (and the extensions we publish) whose
#: value must be a URL of the issuer's scheme.
ENDPOINT_MEMBERS = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "registration_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "end_session_endpoint",
    "device_authorization_endpoint",
    "pushed_authorization_request_endpoint",
)
#: Members that must be JSON arrays of strings where present.
LIST_MEMBERS = (
    "scopes_supported",
    "response_types_supported",
    "response_modes_supported",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "revocation_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_methods_supported",
    "code_challenge_methods_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "claims_supported",
    "acr_values_supported",
    "prompt_values_supported",
    "dpop_signing_alg_values_supported",
)
#: Members that must be JSON booleans where present.
BOOLEAN_MEMBERS = (
    "authorization_response_iss_parameter_supported",
    "require_pushed_authorization_requests",
    "backchannel_logout_supported",
    "backchannel_logout_session_supported",
    "claims_parameter_supported",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    "require_request_uri_registration",
    "client_id_metadata_document_supported",
)
#: RFC 8414 §2: the endpoints whose JWT client authentication needs its algorithms listed.
AUTHENTICATING_ENDPOINTS = ("token", "revocation", "introspection")
JWT_AUTH_METHODS = ("private_key_jwt", "client_secret_jwt")
#: DPoP proofs are signed with a private key (RFC 9449 §4.2): no MAC, no "none".
_SYMMETRIC_OR_NONE = re.compile(r"^(none|HS\d+)$", re.IGNORECASE)
BEARER_METHODS = ("header", "body", "query")


def metadata_locations(issuer: str) -> list[str]:
    """Every URL where a client looks for this issuer's metadata: RFC 8414 §3.1 (the
    well-known string inserted between host and path) and OpenID Connect Discovery §4.1
    (appended to the issuer). An issuer without a path has two; with one, three."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")

    def at(p: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, p, "", ""))

    if not path:
        return [
            at("/.well-known/oauth-authorization-server"),
            at("/.well-known/openid-configuration"),
        ]
    return [
        at("/.well-known/oauth-authorization-server" + path),
        at("/.well-known/openid-configuration" + path),
        at(path + "/.well-known/openid-configuration"),
    ]


def protected_resource_metadata_location(resource: str) -> str:
    """RFC 9728 §3.1: the well-known string between the resource's host and its path."""
    parts = urlsplit(resource)
    path = parts.path.rstrip("/")
    return urlunsplit(
        (parts.scheme, parts.netloc, "/.well-known/oauth-protected-resource" + path, "", "")
    )


def _identifier_problems(
    name: str, value: Any, expected: str, shape_rfc: str, equal_rfc: str
) -> list[str]:
    """An issuer or resource identifier: an https URL (http on loopback is the development
    allowance of this server) with no query or fragment, equal to the one it was asked for
    (clients refuse a document naming another)."""
    if not isinstance(value, str) or not value:
        return [f"{name} is missing or not a string ({shape_rfc})"]
    parts = urlsplit(value)
    problems = []
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_url(value)):
        problems.append(f"{name} {value!r} is not an https URL ({shape_rfc})")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        problems.append(f"{name} {value!r} has a query or fragment ({shape_rfc})")
    if value != expected:
        problems.append(
            f"{name} {value!r} is not {expected!r}: clients must refuse the document ({equal_rfc})"
        )
    return problems


def _shape_problems(document: Mapping[str, Any]) -> list[str]:
    problems = []
    for member in LIST_MEMBERS:
        value = document.get(member)
        if value is not None and not (
            isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        ):
            problems.append(f"{member} must be a non-empty array of strings (RFC 8414 §2)")
    for member in BOOLEAN_MEMBERS:
        value = document.get(member)
        if value is not None and not isinstance(value, bool):
            problems.append(f"{member} must be true or false, not {value!r}")
    return problems


def _endpoint_problems(document: Mapping[str, Any], issuer: str) -> list[str]:
    scheme = urlsplit(issuer).scheme
    problems = []
    for member in ENDPOINT_MEMBERS:
        value = document.get(member)
        if value is None:
            continue
        if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
            problems.append(f"{member} is not a URL: {value!r} (RFC 8414 §2)")
        elif urlsplit(value).scheme != scheme:
            problems.append(f"{member} {value} does not use the issuer's scheme {scheme}")
        elif urlsplit(value).fragment:
            problems.append(f"{member} {value} has a fragment (RFC 6749 §3.1)")
    return problems


def _listed(document: Mapping[str, Any], member: str) -> list[str]:
    value = document.get(member)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def authorization_server_problems(
    document: object, expected_issuer: str, *, openid: bool = True
) -> list[str]:
    """What in ``document`` breaks RFC 8414 §2/§3.3 (and, with ``openid``, OpenID Connect
    Discovery §3), or what MCP clients and RFC 9700 need and it lacks."""
    if not isinstance(document, Mapping):
        return ["the metadata is not a JSON object (RFC 8414 §3.2)"]
    problems = _identifier_problems(
        "issuer",
        document.get("issuer"),
        expected_issuer,
        "RFC 8414 §2",
        "RFC 8414 §3.3, OIDC Discovery §4.3",
    )
    problems += _shape_problems(document)
    problems += _endpoint_problems(document, expected_issuer)
    grants = _listed(document, "grant_types_supported") or ["authorization_code", "implicit"]
    if "authorization_code" in grants and not document.get("authorization_endpoint"):
        problems.append("authorization_endpoint is missing (RFC 8414 §2)")
    if not document.get("token_endpoint"):
        problems.append("token_endpoint is missing (RFC 8414 §2)")
    if not _listed(document, "response_types_supported"):
        problems.append("response_types_supported is missing (RFC 8414 §2)")
    for endpoint in AUTHENTICATING_ENDPOINTS:
        methods = _listed(document, f"{endpoint}_endpoint_auth_methods_supported")
        algorithms_member = f"{endpoint}_endpoint_auth_signing_alg_values_supported"
        algorithms = _listed(document, algorithms_member)
        if any(m in JWT_AUTH_METHODS for m in methods) and not algorithms:
            problems.append(
                f"{algorithms_member} is required when the {endpoint} endpoint takes JWT "
                "client authentication (RFC 8414 §2)"
            )
        if any(a.lower() == "none" for a in algorithms):
            problems.append(f"{algorithms_member} must not list 'none' (RFC 8414 §2)")
    challenges = _listed(document, "code_challenge_methods_supported")
    if "S256" not in challenges:
        problems.append(
            "code_challenge_methods_supported must list S256: MCP clients refuse a server "
            "without it (RFC 7636, RFC 9700 §2.1.1)"
        )
    if "plain" in challenges:
        problems.append("code_challenge_methods_supported lists plain (RFC 9700 §2.1.1)")
    if document.get("authorization_response_iss_parameter_supported") is not True:
        problems.append("authorization_response_iss_parameter_supported is not true (RFC 9207)")
    if any(
        _SYMMETRIC_OR_NONE.match(a) for a in _listed(document, "dpop_signing_alg_values_supported")
    ):
        problems.append(
            "dpop_signing_alg_values_supported lists a symmetric or none algorithm (RFC 9449 §5.1)"
        )
    if openid:
        problems += _openid_problems(document)
    return problems


def _openid_problems(document: Mapping[str, Any]) -> list[str]:
    problems = []
    if not document.get("jwks_uri"):
        problems.append("jwks_uri is missing (OIDC Discovery §3)")
    if not _listed(document, "subject_types_supported"):
        problems.append("subject_types_supported is missing (OIDC Discovery §3)")
    if "RS256" not in _listed(document, "id_token_signing_alg_values_supported"):
        problems.append("id_token_signing_alg_values_supported must list RS256 (OIDC Discovery §3)")
    if "openid" not in _listed(document, "scopes_supported"):
        problems.append("scopes_supported should list openid (OIDC Discovery §3)")
    return problems


def protected_resource_problems(document: object, resource: str, issuer: str) -> list[str]:
    """What in ``document`` (fetched for ``resource``) breaks RFC 9728 §2/§3.3, or keeps a
    client from getting a token for it here."""
    if not isinstance(document, Mapping):
        return ["the metadata is not a JSON object (RFC 9728 §3.2)"]
    problems = _identifier_problems(
        "resource", document.get("resource"), resource, "RFC 9728 §2", "RFC 9728 §3.3"
    )
    servers = document.get("authorization_servers")
    if not (isinstance(servers, list) and all(isinstance(s, str) for s in servers)):
        problems.append(
            "authorization_servers must be an array of issuer identifiers (RFC 9728 §2)"
        )
    elif issuer not in servers:
        problems.append(f"authorization_servers does not name this issuer {issuer} (RFC 9728 §2)")
    for member in (
        "scopes_supported",
        "bearer_methods_supported",
        "dpop_signing_alg_values_supported",
    ):
        value = document.get(member)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            problems.append(f"{member} must be an array of strings (RFC 9728 §2)")
    unknown = [m for m in _listed(document, "bearer_methods_supported") if m not in BEARER_METHODS]
    if unknown:
        problems.append(f"bearer_methods_supported has unknown values {unknown} (RFC 9728 §2)")
    if any(
        _SYMMETRIC_OR_NONE.match(a) for a in _listed(document, "dpop_signing_alg_values_supported")
    ):
        problems.append(
            "dpop_signing_alg_values_supported lists a symmetric or none algorithm (RFC 9449 §5.1)"
        )
    for member in (
        "dpop_bound_access_tokens_required",
        "tls_client_certificate_bound_access_tokens",
    ):
        value = document.get(member)
        if value is not None and not isinstance(value, bool):
            problems.append(f"{member} must be true or false (RFC 9728 §2)")
    return problems


_RESOURCE_METADATA_PARAMETER = re.compile(r'resource_metadata="([^"]*)"')


def challenge_problems(status: int, www_authenticate: str | None, resource: str) -> list[str]:
    """A request without a token must get 401 with a challenge naming the resource's metadata
    (RFC 9728 §5.1), which is how MCP clients find the authorization server."""
    if status != 401:
        return [f"a request without a token answered {status}, not 401 (RFC 6750 §3)"]
    if not www_authenticate:
        return ["the 401 has no WWW-Authenticate challenge (RFC 6750 §3)"]
    named = _RESOURCE_METADATA_PARAMETER.search(www_authenticate)
    if named is None:
        return ["the 401's WWW-Authenticate names no resource_metadata (RFC 9728 §5.1)"]
    if named.group(1) != protected_resource_metadata_location(resource):
        return [
            f"the 401 names resource_metadata {named.group(1)}, not "
            f"{protected_resource_metadata_location(resource)} (RFC 9728 §5.1)"
        ]
    return []
