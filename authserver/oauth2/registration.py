"""RFC 7591 dynamic client registration and RFC 7592 client management, off by default."""

from __future__ import annotations

import hmac
import json
import unicodedata
from functools import cached_property

from authlib.oauth2.rfc6749 import InvalidRequestError, JsonPayload, JsonRequest
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7591 import ClientMetadataClaims as _ClientMetadataClaims
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint as _RegistrationEndpoint
from authlib.oauth2.rfc7591 import InvalidClientMetadataError, InvalidRedirectURIError
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint as _ConfigurationEndpoint
from authlib.oidc.rpinitiated import ClientMetadataClaims as LogoutMetadataClaims
from flask import Request, current_app
from flask import request as flask_request
from joserfc.errors import InvalidClaimError
from werkzeug.exceptions import RequestEntityTooLarge

from .. import policy
from ..models import Client
from ..security.secrets import new_secret, verify_secret
from ..services import ServiceError, clients
from .metadata import server_metadata

#: RFC 7591 §2 fields whose value is a string, and those whose value is an array of strings.
TEXT_FIELDS = (
    "token_endpoint_auth_method",
    "client_name",
    "client_uri",
    "logo_uri",
    "scope",
    "tos_uri",
    "policy_uri",
    "jwks_uri",
    "backchannel_logout_uri",  # OpenID Connect Back-Channel Logout 1.0 §2.2
    "software_id",
    "software_version",
)
LIST_FIELDS = (
    "redirect_uris",
    "grant_types",
    "response_types",
    "contacts",
    "post_logout_redirect_uris",  # OpenID Connect RP-Initiated Logout §3.1
)
#: Longer than any value we keep (a redirect URI may have 2000 characters), so the services
#: still give their own, more precise reasons for what is merely too long for them.
MAX_TEXT = 4000
MAX_ITEMS = 50


def _bearer(request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


class RegistrationAccess:
    """The credential of a management request: a registration access token (RFC 7592 §1)."""

    def __init__(self, client: Client | None) -> None:
        self.client = client

    def check_client(self, client: Client) -> bool:
        return self.client is not None and self.client.id == client.id


def _field_error(field: str | None, message: str) -> Exception:
    # RFC 7591 §3.2.2: a bad redirect URI has an error code of its own.
    if field in ("redirect_uris", "post_logout_redirect_uris"):
        return InvalidRedirectURIError(message)
    return InvalidClientMetadataError(message)


def _service_error(error: ServiceError, metadata: dict) -> Exception:
    if error.field == "redirect_uris" and not metadata.get("redirect_uris"):
        # Not an invalid URI but a required field left out (RFC 7591 §2: flows that redirect
        # must register their redirect URIs).
        return InvalidClientMetadataError(error.message)
    return _field_error(error.field, error.message)


def _text_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > MAX_TEXT:
        return "is too long"
    # Control characters have no place in names, URIs or scopes, PostgreSQL refuses NUL, and a
    # lone surrogate cannot be encoded to be stored at all.
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        return "must not contain control characters"
    return None


def read_metadata(request: Request, text_fields: tuple[str, ...] = TEXT_FIELDS) -> dict:
    """The body as a JSON object whose known fields have their RFC 7591 §2 types.

    Unknown fields pass untouched: the claims classes ignore them (RFC 7591 §2).
    """
    if not request.is_json:
        raise InvalidClientMetadataError("Send the client metadata as application/json.")
    try:
        document = json.loads(request.get_data(cache=True))
    except RequestEntityTooLarge as error:
        raise InvalidClientMetadataError("The client metadata document is too large.") from error
    except (ValueError, RecursionError) as error:
        # RecursionError: json refuses nesting deeper than the interpreter's stack allows.
        raise InvalidClientMetadataError("The body is not a readable JSON document.") from error
    if not isinstance(document, dict):
        raise InvalidClientMetadataError("The client metadata must be a JSON object.")
    # RFC 7592 §2.2 treats an omitted field as null: a null metadata value is an absent one.
    metadata_fields = (*TEXT_FIELDS, *LIST_FIELDS, "jwks")
    document = {k: v for k, v in document.items() if v is not None or k not in metadata_fields}
    for field in text_fields:
        if field in document:
            problem = _text_problem(document[field])
            if problem:
                raise _field_error(field, f"{field} {problem}.")
    for field in LIST_FIELDS:
        if field not in document:
            continue
        items = document[field]
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise _field_error(field, f"{field} must be an array of at most {MAX_ITEMS} strings.")
        for item in items:
            problem = _text_problem(item)
            if problem:
                raise _field_error(field, f"Each of {field} {problem}.")
    if "jwks" in document and not isinstance(document["jwks"], dict):
        raise InvalidClientMetadataError("jwks must be a JSON object.")
    return document


class MetadataPayload(JsonPayload):
    """A JSON body checked once, when Authlib first reads it (inside its error handling)."""

    def __init__(self, request: Request, text_fields: tuple[str, ...] = TEXT_FIELDS) -> None:
        self._request = request
        self._text_fields = text_fields

    @cached_property
    def data(self) -> dict:
        return read_metadata(self._request, self._text_fields)


#: What an omitted field means, at registration and at an update alike (RFC 7591 §2 lets the
#: server choose defaults; RFC 7592 §2.2 treats a field left out of an update as absent, so it
#: gets the same default rather than keeping its old value).
UNNAMED = "Unnamed application"
DEFAULT_SCOPE = "openid"
DEFAULT_GRANT_TYPES = ["authorization_code"]  # RFC 7591 §2's own default


def _stored_fields(metadata: dict) -> dict:
    """The service's arguments for ``metadata``, each omitted field at its default."""
    return {
        "name": metadata.get("client_name") or UNNAMED,
        "redirect_uris": list(metadata.get("redirect_uris") or []),
        "scope": metadata.get("scope") or DEFAULT_SCOPE,
        "grant_types": list(metadata.get("grant_types") or DEFAULT_GRANT_TYPES),
        "post_logout_redirect_uris": list(metadata.get("post_logout_redirect_uris") or []),
    }


def _backchannel_fields(metadata: dict) -> tuple[str | None, bool]:
    return (
        metadata.get("backchannel_logout_uri"),
        bool(metadata.get("backchannel_logout_session_required", False)),
    )


def _authentication_fields(metadata: dict) -> dict:
    """How the client authenticates, as the service takes it (RFC 7591 §2, RFC 9126 §6)."""
    return {
        "auth_method": metadata.get("token_endpoint_auth_method"),
        "jwks": metadata.get("jwks"),
        "jwks_uri": metadata.get("jwks_uri"),
        "require_pushed_authorization_requests": bool(
            metadata.get("require_pushed_authorization_requests", False)
        ),
        "dpop_bound_access_tokens": bool(metadata.get("dpop_bound_access_tokens", False)),
    }


def client_information(client: Client) -> dict:
    """The RFC 7591 §3.2.1 client information response, from what is stored: registration,
    read and update all answer with it, so what the client is told is what it gets back."""
    info = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        **client.client_metadata,
    }
    if client.client_secret_hash is not None:
        info["client_secret_expires_at"] = 0  # REQUIRED with a secret; ours do not expire
    return info


def _registration_info(client: Client, token: str | None) -> dict:
    info = {
        "registration_client_uri": f"{current_app.config['ISSUER']}/oauth/register/"
        f"{client.client_id}"
    }
    if token:
        info["registration_access_token"] = token
    return info


class ClientMetadataClaims(_ClientMetadataClaims):
    """RFC 7591 metadata, with redirect URIs held to the same rules as the console's."""

    # Only what a Client row keeps is registered, and so echoed back: client_uri, logo_uri,
    # contacts and the like are still validated but would be gone at the next read (RFC 7591
    # §3.2.1 lets the server leave out what it does not register).
    REGISTERED_CLAIMS = [
        "redirect_uris",
        "token_endpoint_auth_method",
        "grant_types",
        "response_types",
        "client_name",
        "scope",
        "jwks",
        "jwks_uri",
        "require_pushed_authorization_requests",  # RFC 9126 §6
        "backchannel_logout_uri",  # OpenID Connect Back-Channel Logout 1.0 §2.2
        "backchannel_logout_session_required",
        "dpop_bound_access_tokens",  # RFC 9449 §5.2
    ]

    def validate_require_pushed_authorization_requests(self) -> None:
        if not isinstance(self.get("require_pushed_authorization_requests", False), bool):
            raise InvalidClaimError("require_pushed_authorization_requests")

    def validate_backchannel_logout(self) -> None:
        if not isinstance(self.get("backchannel_logout_session_required", False), bool):
            raise InvalidClaimError("backchannel_logout_session_required")
        uri = self.get("backchannel_logout_uri")
        if uri is not None and clients.redirect_uri_problem(uri):
            raise InvalidClaimError("backchannel_logout_uri")

    def validate(self, now=None, leeway=0) -> None:
        super().validate(now, leeway)
        self.validate_require_pushed_authorization_requests()
        self.validate_backchannel_logout()
        if not isinstance(self.get("dpop_bound_access_tokens", False), bool):
            raise InvalidClaimError("dpop_bound_access_tokens")

    def validate_jwks(self) -> None:
        # joserfc trips with a TypeError over key sets of the wrong shape; say invalid instead.
        keys = self["jwks"].get("keys") if isinstance(self.get("jwks"), dict) else []
        if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
            raise InvalidClaimError("jwks")
        super().validate_jwks()

    def validate_redirect_uris(self) -> None:
        uris = self.get("redirect_uris")
        if uris is None:
            return
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise InvalidRedirectURIError("redirect_uris must be a list of URLs.")
        for uri in uris:
            problem = clients.redirect_uri_problem(uri)
            if problem:
                # RFC 7591 §3.2.2: a bad redirect URI has an error code of its own.
                raise InvalidRedirectURIError(f"Redirect URI {uri!r} {problem}.")


class LogoutClaims(LogoutMetadataClaims):
    """post_logout_redirect_uris (RP-Initiated Logout §3.1)."""

    def validate(self, now=None, leeway=0) -> None:
        try:
            super().validate(now, leeway)
        except ValueError as error:
            # Authlib raises a bare ValueError for a public client's plain-http URI, which the
            # endpoints would let through as a 500; it is an invalid value like any other.
            raise InvalidClaimError("post_logout_redirect_uris") from error


CLAIMS_CLASSES = [ClientMetadataClaims, LogoutClaims]


class ClientRegistrationEndpoint(_RegistrationEndpoint):
    def __init__(self, server=None) -> None:
        super().__init__(server, claims_classes=CLAIMS_CLASSES)

    def create_endpoint_request(self, request) -> JsonRequest:
        # No Authlib hook checks the document before its claims classes index into it.
        json_request = super().create_endpoint_request(request)
        json_request.payload = MetadataPayload(flask_request)
        return json_request

    def authenticate_token(self, request) -> bool:
        expected = current_app.config["REGISTRATION_INITIAL_ACCESS_TOKEN"]
        if not expected:
            return True  # open registration, as the operator chose
        presented = _bearer(request) or ""
        if not hmac.compare_digest(presented.encode(), str(expected).encode()):
            # RFC 7591 §3: a bad initial access token is answered per RFC 6750.
            raise InvalidTokenError("The initial access token is missing or invalid.")
        return True

    def get_server_metadata(self) -> dict:
        return server_metadata()

    def resolve_public_key(self, request) -> None:
        return None  # software statements are not accepted

    def generate_client_info(self, request) -> dict:
        method = request.payload.data.get("token_endpoint_auth_method")
        info = super().generate_client_info(request)
        info["client_id"] = new_secret(18)
        if method in ("none", policy.PRIVATE_KEY_JWT):  # no secret: none, or a key pair
            info.pop("client_secret")
            info.pop("client_secret_expires_at")
        else:
            info["client_secret"] = new_secret(32)  # SPEC: at least 256 bits
        return info

    def save_client(self, client_info: dict, client_metadata: dict, request) -> Client:
        try:
            client, _ = clients.create_client(
                **_stored_fields(client_metadata),
                public=client_metadata.get("token_endpoint_auth_method") == "none",
                client_id=client_info["client_id"],
                secret=client_info.get("client_secret"),
                actor="registration",
                address=flask_request.remote_addr,
                **_authentication_fields(client_metadata),
                backchannel_logout_uri=_backchannel_fields(client_metadata)[0],
                backchannel_logout_session_required=_backchannel_fields(client_metadata)[1],
            )
        except ServiceError as error:
            raise _service_error(error, client_metadata) from error
        return client

    def generate_client_registration_info(self, client: Client, request) -> dict:
        token = clients.issue_registration_token(client)
        # Authlib echoes the request's metadata; this, applied over it, is what was stored:
        # deduplicated, in our order, and the auth method we advertise (a confidential client
        # may use either secret method, so client_secret_post is substituted, §3.2.1).
        return {**client_information(client), **_registration_info(client, token)}


def _client_id_in_uri() -> str | None:
    """The client_id in the client configuration endpoint's URI (RFC 7592 §2)."""
    return (flask_request.view_args or {}).get("client_id")


class ClientConfigurationEndpoint(_ConfigurationEndpoint):
    def __init__(self, server=None) -> None:
        super().__init__(server, claims_classes=CLAIMS_CLASSES)

    def create_endpoint_request(self, request) -> JsonRequest:
        # No Authlib hook checks the document before the update indexes into it; an update
        # may also carry the client_secret it must match (RFC 7592 §2.2), a string like these.
        json_request = super().create_endpoint_request(request)
        json_request.payload = MetadataPayload(flask_request, (*TEXT_FIELDS, "client_secret"))
        return json_request

    def authenticate_token(self, request) -> RegistrationAccess:
        token = _bearer(request)
        client = clients.find_by_registration_token(token)
        # A token is good for its own client's URI only (RFC 7592 §2): anything else is invalid.
        if client is not None and client.client_id != _client_id_in_uri():
            client = None
        if client is not None and client.disabled_at is not None:
            client = None  # a client the operator disabled cannot manage its registration either
        if client is None:
            # RFC 7592 §3: an invalid registration access token is an RFC 6750 error (401).
            raise InvalidTokenError("The registration access token is missing or invalid.")
        return RegistrationAccess(client)

    def authenticate_client(self, request) -> Client | None:
        return clients.find_client(_client_id_in_uri())

    def revoke_access_token(self, request, token) -> None:
        if token.client is not None:
            token.client.registration_token_hash = None

    def check_permission(self, client: Client, request) -> bool:
        return True  # the registration access token is bound to this one client

    def introspect_client(self, client: Client) -> dict:
        return client_information(client)

    def generate_client_registration_info(self, client: Client, request) -> dict:
        return _registration_info(client, None)

    def delete_client(self, client: Client, request) -> None:
        clients.delete_client(
            client, actor=f"client:{client.client_id}", address=flask_request.remote_addr
        )

    def update_client(self, client: Client, client_metadata: dict, request) -> Client:
        """Replace the metadata (RFC 7592 §2.2): what the request leaves out is absent, so it
        takes the default a registration without it would get, never its old value."""
        # Authlib has checked that client_id is this client's and that a client_secret sent
        # matches, but it accepts the previous secret in its grace period too: §2.2 wants the
        # currently issued one.
        sent_secret = request.payload.data.get("client_secret")
        if sent_secret is not None and not verify_secret(
            sent_secret, client.client_secret_hash or ""
        ):
            raise InvalidRequestError("client_secret is not the currently issued client secret.")
        method = client_metadata.get("token_endpoint_auth_method")
        if method is not None and method not in policy.methods_of(
            client.token_endpoint_auth_method
        ):
            # A client gets or loses a secret or keys only by registering anew.
            raise InvalidClientMetadataError(
                f"token_endpoint_auth_method cannot become {method!r}: this client uses "
                f"{client.token_endpoint_auth_method!r}."
            )
        try:
            return clients.update_client(
                client,
                **_stored_fields(client_metadata),
                actor=f"client:{client.client_id}",
                address=flask_request.remote_addr,
                backchannel=_backchannel_fields(client_metadata),
                dpop_bound_access_tokens=bool(
                    client_metadata.get("dpop_bound_access_tokens", False)
                ),
            )
        except ServiceError as error:
            raise _service_error(error, client_metadata) from error

    def get_server_metadata(self) -> dict:
        return server_metadata()
