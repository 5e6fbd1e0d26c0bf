"""Authlib's authorization server, adapted: where parameters are read, and client authentication."""

from __future__ import annotations

import re

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, InvalidScopeError
from flask import current_app, g
from flask import request as flask_request
from werkzeug.datastructures import MultiDict

from .. import throttling
from ..logs import note
from ..scopes import scope_list, unknown_scopes
from ..security import http_basic
from ..services import clients
from . import dpop
from .errors import client_authentication_failed, client_disabled


class _Payload(FlaskOAuth2Payload):
    def __init__(self, request, values: MultiDict) -> None:
        super().__init__(request)
        self._values = values

    @property
    def data(self) -> MultiDict:
        return self._values


#: The view of the authorization endpoint, whose consent form posts back to it.
AUTHORIZATION_ENDPOINT = "authorize.authorize"
#: Endpoints whose parameters come only in an application/x-www-form-urlencoded body.
FORM_ENDPOINTS = ("revocation", "introspection", "device_authorization", "pushed_authorization")
#: Endpoints besides the token endpoint where a DPoP proof means something (RFC 9449 §10.1).
DPOP_ENDPOINTS = ("pushed_authorization",)
#: RFC 8707 §2 lets ``resource`` repeat; every other parameter is sent at most once.
REPEATABLE = frozenset({"resource"})
#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by spaces.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e ]*")
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class AuthorizationServer(FlaskAuthorizationServer):
    # Authlib builds the request outside its error handling, so no hook can refuse it.
    def create_token_response(self, request=None):
        refused = self._refuse_malformed_form() or self._refuse_dpop_proof()
        return refused if refused is not None else super().create_token_response(request)

    # As above: the endpoint request is built before Authlib's error handling starts.
    def create_endpoint_response(self, name: str, request=None):
        if name in FORM_ENDPOINTS:
            refused = self._refuse_malformed_form()
            if refused is None and name in DPOP_ENDPOINTS:
                refused = self._refuse_dpop_proof()
            if refused is not None:
                return refused
        return super().create_endpoint_response(name, request)

    def _refuse_dpop_proof(self):
        """The DPoP proof checked and its jti claimed before the grant writes anything: SQLite
        has one writer, and the claim is written on a connection of its own (``claim_window``).
        The grant reads the memoised proof back (``dpop.proof_jkt``)."""
        try:
            dpop.request_proof()
        except OAuth2Error as error:
            return self.handle_error_response(None, error)
        return None

    def _refuse_malformed_form(self):
        problem = form_request_problem(flask_request.mimetype, flask_request.form)
        if problem is None:
            return None
        return self.handle_error_response(None, InvalidRequestError(problem))

    # Authlib hands the error to no hook before rendering it; the refusal record needs its reason.
    def handle_error_response(self, request, error):
        g.oauth2_error = error
        return super().handle_error_response(request, error)

    def create_oauth2_request(self, request) -> FlaskOAuth2Request:
        oauth_request = FlaskOAuth2Request(flask_request)
        # The authorization endpoint reads only its query: the consent form posts back to the
        # same URL with its own ``scope`` checkboxes, which must not mix with the client's.
        # Other POST endpoints read only the body: RFC 6749 §3.2 and §2.3.1 put credentials and
        # parameters there, never in a URL that ends up in logs.
        if flask_request.method == "GET" or flask_request.endpoint == AUTHORIZATION_ENDPOINT:
            values = flask_request.args
        else:
            values = flask_request.form
        oauth_request.payload = _Payload(flask_request, values)
        return oauth_request

    def validate_requested_scope(self, scope: str | None) -> None:
        if scope and not _SCOPE.fullmatch(scope):
            raise InvalidScopeError(
                "The scope contains characters RFC 6749 section 3.3 does not allow."
            )
        unknown = unknown_scopes(scope_list(scope))
        if unknown:
            raise InvalidScopeError(f"Unknown scope: {' '.join(unknown)}.")

    def authenticate_client(self, request, methods, endpoint="token"):
        try:
            check_single_auth_method(request)
            client = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as error:
            throttling.client_authentication_failed()
            realm = current_app.config["ISSUER"]
            if _disabled_client_proved_itself(request):
                raise client_disabled(error, realm) from error
            raise client_authentication_failed(error, realm) from error
        note(client_id=client.client_id)  # the request line names who authenticated, nothing more
        throttling.client_authenticated(client.client_id)
        return client


def check_single_auth_method(request) -> None:
    """RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request."""
    header = request.headers.get("Authorization", "")
    parts = header.split(None, 1)
    if header and len(parts) < 2:
        # A scheme with no credentials; Authlib's parser would trip over it.
        raise InvalidClientError(status_code=401, description="Malformed Authorization header.")
    # Any whitespace may follow the scheme (RFC 9110 §11.4 allows a TAB too).
    uses_basic = bool(parts) and parts[0].lower() == "basic"
    uses_post = "client_secret" in request.form
    uses_assertion = "client_assertion" in request.form or "client_assertion_type" in request.form
    if uses_basic + uses_post + uses_assertion > 1:
        raise InvalidRequestError("Use exactly one client authentication method, not several.")
    if uses_basic:
        claimed = basic_client_id(parts[1])
        form_client_id = request.form.get("client_id")
        if form_client_id is not None and form_client_id != claimed:
            raise InvalidRequestError("client_id in the body differs from the one authenticated.")


def _disabled_client_proved_itself(request) -> bool:
    """Whether the refused request came from a disabled client with its right secret."""
    parts = request.headers.get("Authorization", "").split(None, 1)
    if len(parts) == 2 and parts[0].lower() == "basic":
        try:
            client_id, secret = http_basic.basic_credentials(parts[1])
        except ValueError:
            return False
        return clients.disabled_and_proven(client_id, secret, "client_secret_basic")
    client_id, secret = request.form.get("client_id"), request.form.get("client_secret")
    if isinstance(client_id, str) and isinstance(secret, str):
        return clients.disabled_and_proven(client_id, secret, "client_secret_post")
    return False


def basic_client_id(credentials: str) -> str:
    """The client id in HTTP Basic credentials, or ``invalid_client`` if they are malformed."""
    try:
        return http_basic.basic_client_id(credentials)
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError, non-ASCII input
        raise InvalidClientError(
            status_code=401, description="Malformed HTTP Basic credentials."
        ) from exc


def parameter_problem(values: MultiDict) -> str | None:
    """Why these request parameters are malformed, or None.

    RFC 6749 §3.1 and §3.2: parameters MUST NOT be included more than once. A value with a
    control character is no value any RFC defines, and PostgreSQL refuses NUL outright.
    """
    for name in values:
        # Error descriptions allow only some ASCII (RFC 6749 §5.2): never echo a wild name.
        shown = f"'{name}'" if _NAME.fullmatch(name) else "A parameter"
        given = values.getlist(name)
        if len(given) > 1 and name not in REPEATABLE:
            return f"{shown} was sent more than once."
        if not name.isprintable() or not all(value.isprintable() for value in given):
            return f"{shown} contains control characters."
    return None


def form_request_problem(mimetype: str, form: MultiDict) -> str | None:
    """RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1: a form body, each parameter at most once."""
    if mimetype != "application/x-www-form-urlencoded":
        return "Send the parameters as application/x-www-form-urlencoded."
    return parameter_problem(form)
