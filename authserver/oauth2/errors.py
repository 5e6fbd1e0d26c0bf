"""Why a request was refused, in a developer's words: the reason the console's *Recent
activity* shows beside each refused authorization and token request.

Errors this server raises carry their reason (``refused``); Authlib's own errors, raised inside
Authlib, are known by their description (``AUTHLIB_REASONS``) or their code. No reason names a
credential: descriptions name parameters, never their values.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError

#: What a client that failed to authenticate is told, instead of Authlib's list of the methods
#: the endpoint accepts (which reads as if the method were the problem, when it is the secret).
CLIENT_AUTHENTICATION_FAILED = (
    "Client authentication failed: unknown client_id, wrong client_secret, or no credentials "
    "sent (RFC 6749 section 5.2)."
)

#: What a disabled client is told, once its secret proved it is that client
#: (``services/clients.disabled_and_proven``): still ``invalid_client``, the reason in words.
CLIENT_DISABLED = (
    "This client is disabled by the server's operator: its credentials are right, but it may not "
    "authenticate until the operator enables it again."
)


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is unknown, or wider than what was granted."""

    error = "invalid_target"
    status_code = 400


def refused(error: OAuth2Error, reason: str) -> OAuth2Error:
    """``error``, carrying the exact reason its client's developer will read."""
    error.reason = reason
    return error


#: Authlib's descriptions of the refusals it raises itself, by what they mean.
AUTHLIB_REASONS = {
    "Invalid 'redirect_uri' in request.": "redirect_uri differs from the authorization request's",
    "Code challenge failed.": "PKCE failure: the code_verifier does not match the code_challenge",
    "Missing 'code_verifier'": "PKCE failure: code_verifier missing",
    "Invalid 'code_verifier'": "PKCE failure: malformed code_verifier",
}


class ClientAuthenticationFailed(InvalidClientError):
    """``invalid_client`` whose 401 carries a challenge client libraries can parse: RFC 7617
    requires ``realm`` on a Basic challenge, and Authlib's has none."""

    def __init__(self, realm: str, description: str, status_code: int) -> None:
        super().__init__(description=description, status_code=status_code)
        self.realm = realm

    def get_headers(self) -> list[tuple[str, str]]:
        headers = OAuth2Error.get_headers(self)  # without Authlib's realm-less challenge
        if self.status_code == 401:
            params = [self.realm, self.error, self.get_error_description()]
            realm, error, description = (_quoted(value) for value in params)
            headers.append(
                (
                    "WWW-Authenticate",
                    f"Basic realm={realm}, error={error}, error_description={description}",
                )
            )
        return headers


def client_authentication_failed(error: InvalidClientError, realm: str) -> InvalidClientError:
    """The ``invalid_client`` a client is answered: its reason in words, and a realm."""
    description = error.get_error_description() or ""
    if description.startswith("The client cannot authenticate with methods"):
        description = CLIENT_AUTHENTICATION_FAILED
    answer = ClientAuthenticationFailed(realm, description, error.status_code)
    reason = getattr(error, "reason", None)
    if isinstance(reason, str):
        answer.reason = reason
    return answer


def client_disabled(error: InvalidClientError, realm: str) -> InvalidClientError:
    """The ``invalid_client`` a disabled client that proved itself is answered."""
    answer = ClientAuthenticationFailed(realm, CLIENT_DISABLED, error.status_code)
    answer.reason = "client disabled by the operator"
    return answer


def _quoted(value: str) -> str:
    # RFC 9110 §5.6.4 quoted-string; RFC 6749 §5.2 descriptions exclude '"' and '\' anyway.
    return '"' + value.replace("\\", "").replace('"', "'") + '"'


#: What an error says when it came with no description: never just its code again
#: (the console would read "invalid_grant invalid_grant").
DEFAULT_REASONS = {
    "invalid_grant": "the code or refresh token is not valid for this client",
    "invalid_request": "malformed request: a required parameter missing or one sent twice",
    "unsupported_grant_type": "grant_type not supported by this server",
    "unsupported_response_type": "response_type not supported by this server",
    "access_denied": "the person declined",
}


def refusal_reason(error: OAuth2Error | None, code: str, description: str | None) -> str:
    """The reason of a refusal: the one its error carries, else what Authlib's means."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, str):
        return reason[:300]
    if description in AUTHLIB_REASONS:
        return AUTHLIB_REASONS[description]
    if code == "invalid_client":
        return "client authentication failed: wrong client secret, or a method it may not use"
    if code == "invalid_scope":
        return f"scope not allowed: {description or 'not registered for this client'}"[:300]
    if code == "unauthorized_client":
        return "grant type not registered for this client"
    if description and "code_challenge" in description:
        return f"PKCE failure: {description}"[:300]
    return (description or DEFAULT_REASONS.get(code) or code)[:300]
