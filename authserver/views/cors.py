"""CORS (SPEC, Policy): which browser origins may read which answers.

Discovery and the JWKS are public documents: any origin. So is dynamic registration (RFC 7591,
when open): a browser-based client, such as an MCP client in a page, registers itself as a
client elsewhere does with curl; no cookie is ever sent, so allowing any origin lets a page do
only what any program may. The token, UserInfo and revocation
answers: only the origins of the calling client's registered redirect URIs (the rule is
``services.clients.allowed_origins``). A preflight carries no body and no credentials, so it
cannot name its client: it is allowed for an origin of *any* registered client, and the actual
request then decides (node-oidc-provider does the same). Credentials (cookies) are never allowed.
"""

from __future__ import annotations

from flask import g, request
from werkzeug.wrappers import Response

from .. import throttling
from ..models import Client
from ..oauth2.storage import query_client
from ..services.clients import allowed_origins, origin_of, registered_origins

#: The answers a client's own origins may read, and the methods they take.
CLIENT_PATHS = {
    "/oauth/token": "POST",
    "/oauth/revoke": "POST",
    "/oauth/userinfo": "GET, POST",
}
#: ``DPoP``: a browser client's proof (RFC 9449 §4.1).
ALLOWED_HEADERS = "Authorization, Content-Type, DPoP"
#: Dynamic registration (RFC 7591) and its management (RFC 7592), for any origin.
REGISTRATION_PATH = "/oauth/register"
REGISTRATION_METHODS = "POST"
MANAGEMENT_METHODS = "GET, PUT, DELETE"
#: Seconds a browser may reuse a preflight's answer.
PREFLIGHT_MAX_AGE = "600"


def note_client(client: Client | None) -> None:
    """Name the client a UserInfo request comes from: its access token's."""
    g.cors_client = client


def is_public_path(path: str) -> bool:
    return (
        path.startswith("/.well-known/")
        or path.endswith("/.well-known/openid-configuration")  # an issuer with a path
        or path == "/oauth/jwks"
    )


def cors_headers(response: Response) -> Response:
    """After each request of the blueprints holding these answers (``views.register_views``);
    a request no route matched (a 404, a 405) gets no CORS headers, as no answer is there."""
    path = request.path
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    headers = response.headers
    if is_public_path(path):
        headers["Access-Control-Allow-Origin"] = "*"
        if preflight:
            _preflight_headers(response, "GET")
        return response
    if path == REGISTRATION_PATH or path.startswith(REGISTRATION_PATH + "/"):
        headers["Access-Control-Allow-Origin"] = "*"
        if preflight:
            _preflight_headers(
                response, REGISTRATION_METHODS if path == REGISTRATION_PATH else MANAGEMENT_METHODS
            )
        return response
    methods = CLIENT_PATHS.get(path)
    if methods is None:
        return response
    # The answer depends on Origin: a shared cache must not hand one origin's answer to another.
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if not origin or origin_of(origin) is None:
        return response
    allowed = registered_origins() if preflight else _caller_origins()
    if origin_of(origin) not in allowed:
        return response
    headers["Access-Control-Allow-Origin"] = origin
    if preflight:
        _preflight_headers(response, methods)
    else:
        # So a browser app can read a Bearer error's reason (RFC 6750 §3), and the nonce a
        # use_dpop_nonce answer gives (RFC 9449 §8).
        headers["Access-Control-Expose-Headers"] = "WWW-Authenticate, DPoP-Nonce"
    return response


def _preflight_headers(response: Response, methods: str) -> None:
    response.headers["Access-Control-Allow-Methods"] = methods
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE


def _caller_origins() -> frozenset[str]:
    """The origins of the client this request comes from; none if it names no client."""
    if request.path == "/oauth/userinfo":
        client = g.get("cors_client")  # the access token's client, noted by the view
    else:
        client_id = throttling.claimed_client_id()  # HTTP Basic, else the form
        client = query_client(client_id) if client_id else None
    return allowed_origins(client) if client is not None else frozenset()
