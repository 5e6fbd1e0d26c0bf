"""RFC 9126 pushed authorization requests: ``POST /oauth/par``.

An Authlib endpoint (``TokenEndpoint`` gives it client authentication by the server's methods,
``policy.AUTH_METHODS["pushed_authorization"]``); the request is checked as the authorization
endpoint would check it up to the person's part (client, redirect URI, response type, scope,
PKCE), then kept by ``services/pushed_requests`` for the authorization endpoint to use.
"""

from __future__ import annotations

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import (
    InvalidRequestError,
    TokenEndpoint,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)

from .. import policy
from ..models import Client
from ..services import pushed_requests
from .dpop import pushed_jkt

#: How the client authenticated: not part of the authorization request that is kept.
CREDENTIALS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


class PushedAuthorizationEndpoint(TokenEndpoint):
    ENDPOINT_NAME = "pushed_authorization"
    CLIENT_AUTH_METHODS = policy.auth_methods("pushed_authorization")

    def create_endpoint_response(self, request):
        client: Client = self.authenticate_endpoint_client(request)
        parameters = {k: v for k, v in request.form.items() if k not in CREDENTIALS}
        check_pushed(client, parameters, self.server)
        jkt = pushed_jkt(parameters.get("dpop_jkt"))  # RFC 9449 §10.1: a DPoP header binds too
        if jkt is not None:
            parameters["dpop_jkt"] = jkt
        parameters["client_id"] = client.client_id
        request_uri, expires_in = pushed_requests.push(client, parameters)
        headers = [*default_json_headers, ("Cache-Control", "no-store")]
        # RFC 9126 §2.2: 201 Created.
        return 201, {"request_uri": request_uri, "expires_in": expires_in}, headers


def check_pushed(client: Client, parameters: dict[str, str], server) -> None:
    """RFC 9126 §2.1: what the authorization endpoint would refuse before asking the person."""
    if "request_uri" in parameters:
        raise InvalidRequestError("A pushed request must not itself carry request_uri.")
    named = parameters.get("client_id")
    if named is not None and named != client.client_id:
        raise InvalidRequestError("client_id differs from the client that authenticated.")
    if parameters.get("response_type") != "code":
        raise UnsupportedResponseTypeError("Only response_type=code is supported.")
    if not client.check_response_type("code"):
        raise UnauthorizedClientError("This client may not use the authorization code grant.")
    redirect_uri = parameters.get("redirect_uri")
    if redirect_uri is None and client.get_default_redirect_uri() is None:
        raise InvalidRequestError("Name the redirect_uri: the client has several.")
    if redirect_uri is not None and not client.check_redirect_uri(redirect_uri):
        raise InvalidRequestError("redirect_uri is not registered for this client.")
    server.validate_requested_scope(parameters.get("scope"))
    problem = policy.dpop_jkt_problem(parameters.get("dpop_jkt"))
    if problem:
        raise InvalidRequestError(problem)
    method = parameters.get("code_challenge_method")
    if method is not None and method != "S256":
        raise InvalidRequestError("code_challenge_method must be S256.")
    if client.is_public and not parameters.get("code_challenge"):
        raise InvalidRequestError("A public client must send a PKCE code_challenge (S256).")
