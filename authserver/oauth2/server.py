"""Authlib's authorization server, adapted: where parameters are read, and client authentication."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, InvalidScopeError
from flask import request as flask_request
from werkzeug.datastructures import MultiDict

from .scopes import CATALOGUE, scope_list, unknown_scopes


class _Payload(FlaskOAuth2Payload):
    def __init__(self, request, values: MultiDict) -> None:  # noqa: ANN001
        super().__init__(request)
        self._values = values

    @property
    def data(self) -> MultiDict:
        return self._values


class AuthorizationServer(FlaskAuthorizationServer):
    def create_oauth2_request(self, request) -> FlaskOAuth2Request:  # noqa: ANN001
        oauth_request = FlaskOAuth2Request(flask_request)
        # The authorization endpoint reads only its query: the consent form posts back to the
        # same URL with its own ``scope`` checkboxes, which must not mix with the client's.
        # Other POST endpoints read only the body: RFC 6749 §3.2 and §2.3.1 put credentials and
        # parameters there, never in a URL that ends up in logs.
        if flask_request.method == "GET" or flask_request.endpoint == "oauth2.authorize":
            values = flask_request.args
        else:
            values = flask_request.form
        oauth_request.payload = _Payload(flask_request, values)
        return oauth_request

    def validate_requested_scope(self, scope: str | None) -> None:
        unknown = unknown_scopes(scope_list(scope))
        if unknown:
            raise InvalidScopeError(f"Unknown scope: {' '.join(unknown)}.")

    def authenticate_client(self, request, methods, endpoint="token"):  # noqa: ANN001, ANN201
        check_single_auth_method(request)
        return super().authenticate_client(request, methods, endpoint)


def check_single_auth_method(request) -> None:  # noqa: ANN001
    """RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request."""
    header = request.headers.get("Authorization", "")
    if header and len(header.split(None, 1)) < 2:
        # A scheme with no credentials; Authlib's parser would trip over it.
        raise InvalidClientError(status_code=401, description="Malformed Authorization header.")
    uses_basic = header[:6].lower() == "basic "
    uses_post = "client_secret" in request.form
    if uses_basic and uses_post:
        raise InvalidRequestError("Use exactly one client authentication method, not several.")
    if uses_basic:
        basic_client_id = _basic_client_id(header)
        form_client_id = request.form.get("client_id")
        if form_client_id is not None and form_client_id != basic_client_id:
            raise InvalidRequestError("client_id in the body differs from the one authenticated.")


def _basic_client_id(header: str) -> str:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClientError(
            status_code=401, description="Malformed HTTP Basic credentials."
        ) from exc
    return unquote(decoded.split(":", 1)[0])


def supported_scopes() -> list[str]:
    return list(CATALOGUE)
