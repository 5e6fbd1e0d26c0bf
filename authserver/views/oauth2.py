"""The authorization endpoint (login, consent, code), the token endpoint and the JWKS."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    LoginRequiredError,
    RegistrationNotSupportedError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import clock, policy, throttling
from ..extensions import csrf, db
from ..forms import ActionForm
from ..logs import note
from ..models import UserSession
from ..oauth2 import authorization_server
from ..oauth2.grants import CODE_WITHDRAWN
from ..oauth2.server import parameter_problem
from ..oauth2.storage import Grantor
from ..scopes import REQUIRED_SCOPES, describe, join_scopes, scope_list
from ..services import audit, codes, consents, keys, locks, sessions
from ..services.clients import GRANT_TYPES, find_client
from ..services.tokens import decode_id_token_hint
from . import reauthentication
from .current import current_login
from .hosts import host_of

bp = Blueprint("oauth2", __name__)


def error_page(title: str, message: str, status: int = 400) -> tuple[str, int]:
    """Shown instead of a redirect when the target cannot be trusted (RFC 6749 §4.1.2.1)."""
    return render_template("oauth2/error.html", title=title, message=message), status


def with_issuer(response: Response) -> Response:
    """RFC 9207: every authorization response that goes back to the client names the issuer."""
    location = response.headers.get("Location")
    if response.status_code in (302, 303) and location:
        response.headers["Location"] = add_params_to_uri(
            location, [("iss", current_app.config["ISSUER"])]
        )
    return response


def _trusted_redirect_uri() -> tuple[str | None, tuple[str, str] | None]:
    """The redirect URI if client and URI check out, else why not (title, message).

    A refusal that names a registered client goes on that client's record for its developer.
    """
    for name in ("client_id", "redirect_uri"):
        if len(request.args.getlist(name)) > 1:
            return None, ("Invalid request", f"The parameter '{name}' was sent more than once.")
    client = find_client(request.args.get("client_id"))
    if client is None:
        return None, (
            "Unknown application",
            "The application that sent you here is not registered with this server. "
            "Nothing was shared with it.",
        )
    note(client_id=client.client_id)
    if client.disabled_at is not None:
        _authorize_refused(client.client_id, "invalid_client", "client disabled by the operator")
        return None, (
            "Application disabled",
            f"{client.name} has been disabled by the operator of this server. "
            "Nothing was shared with it.",
        )
    redirect_uri = request.args.get("redirect_uri")
    if redirect_uri is None:
        redirect_uri = client.get_default_redirect_uri()
        if redirect_uri is None:
            _authorize_refused(client.client_id, "invalid_request", "redirect_uri missing")
            return None, ("Invalid request", f"{client.name} did not say where to send you back.")
    elif not client.check_redirect_uri(redirect_uri):
        _authorize_refused(
            client.client_id,
            "invalid_request",
            # Whoever sent the request chose this text: a short, sanitised prefix is kept.
            f"redirect_uri not registered: {audit.quoted_uri(redirect_uri)}",
        )
        return None, (
            "Redirect address not allowed",
            f"{client.name} asked to send you to an address it has not registered. "
            "Nothing was shared with it.",
        )
    return redirect_uri, None


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Response | tuple[str, int]:
    # The client and its redirect URI first: until both check out, never redirect anywhere.
    redirect_uri, problem = _trusted_redirect_uri()
    if problem:
        return error_page(*problem)
    server = authorization_server()
    prompts = " ".join(request.args.getlist("prompt")).split()

    def redirect_error(error: OAuth2Error, refused: bool = True) -> Response:
        note(outcome=error.error)
        if refused:
            _authorize_refused(
                request.args.get("client_id"),
                error.error,
                refusal_reason(error.error, error.get_error_description()),
            )
        error.redirect_uri = redirect_uri
        error.state = request.args.get("state")
        return with_issuer(server.handle_error_response(None, error))

    hint = None
    error = _request_error(prompts)
    if error is None and "id_token_hint" in request.args:
        hint = decode_id_token_hint(request.args["id_token_hint"], allow_expired=True)
        if hint is None:
            error = InvalidRequestError("The id_token_hint is not an ID token issued here.")
    if error is not None:
        if current_user.is_authenticated:
            return redirect_error(error)
        # RFC 9700 §4.11.2: a redirect to the client on anyone's click is an open redirector;
        # the error goes back only once the person has logged in and can be held to it.
        if "none" in prompts:
            # Logging in is no part of a silent request, so say what is wrong here.
            _authorize_refused(
                request.args.get("client_id"),
                error.error,
                refusal_reason(error.error, error.get_error_description()),
            )
            return error_page("Invalid request", error.get_error_description() or error.error)
        return redirect(url_for("auth.login", next=request.full_path))

    max_age = request.args.get("max_age")
    login = current_login()
    after_login = _url_after_login(prompts)
    requirement = policy.LoginRequirement(
        prompt_login="login" in prompts,
        max_age=int(max_age) if max_age is not None else None,
        hint_subject=hint["sub"] if hint is not None else None,
    )
    fresh_login = False
    if "none" not in prompts:
        # The login page's round trip drops these parameters from the URL, not from the request.
        remembered, fresh_login = reauthentication.recall(
            after_login, login.sid if login is not None else None
        )
        requirement = requirement.joined(remembered)
    if policy.must_log_in(
        logged_in_subject=current_user.subject if login is not None else None,
        auth_time=login.auth_time if login is not None else None,
        now=clock.now(),
        requirement=requirement,
        fresh_login_for_this_request=fresh_login,
    ):
        if "none" in prompts:
            # OIDC Core §3.1.2.1: prompt=none must not show any page.
            return redirect_error(LoginRequiredError(), refused=False)
        reauthentication.remember(after_login, requirement)
        return redirect(url_for("auth.login", next=after_login))
    if policy.hint_names_someone_else(requirement, current_user.subject):
        # Logged in just now for this request, and still not whom the app expects: an answer
        # (OIDC Core §3.1.2.1), not another login page. The request stays unanswered for them.
        reauthentication.remember(after_login, requirement)
        return redirect_error(
            LoginRequiredError("The person who logged in is not the one id_token_hint names."),
            refused=False,
        )

    try:
        grant = server.get_consent_grant(end_user=current_user)
    except OAuth2Error as error:
        # Client and redirect URI are verified by now, so every other error goes back to it.
        return redirect_error(error)

    client = grant.client
    requested = scope_list(grant.request.scope)

    if request.method == "POST":
        form = ActionForm()
        if not form.validate_on_submit():
            return error_page("Session expired", "The form expired; please go back and retry.")
        if request.form.get("decision") != "allow":
            return with_issuer(server.create_authorization_response(grant=grant, grant_user=None))
        refused = _lock_grant(client, login)
        if refused:
            return refused
        granted = policy.granted_scopes(requested, request.form.getlist("scope"))
        # Flushed, not committed: the code below commits both, or neither is kept.
        consents.record_consent(
            current_user, client, requested, granted, address=request.remote_addr
        )
        if not granted:
            db.session.commit()  # granting nothing is an answer to keep, with no code to go
            return with_issuer(server.create_authorization_response(grant=grant, grant_user=None))
        return _issue_code(grant, granted, login)

    if not policy.must_ask_consent(consents.granted(current_user, client), requested, prompts):
        # Asked again under the person's lock: "Remove access" may have committed meanwhile.
        refused = _lock_grant(client, login)
        if refused:
            return refused
        if not policy.must_ask_consent(consents.granted(current_user, client), requested, prompts):
            return _issue_code(grant, requested, login)
        db.session.rollback()
    if "none" in prompts:
        return redirect_error(ConsentRequiredError(), refused=False)

    earlier = set(consents.granted(current_user, client) or [])
    return render_template(
        "oauth2/consent.html",
        client=client,
        already=[s for s in describe(requested) if s.name in earlier],
        new=[s for s in describe(requested) if s.name not in earlier],
        required=REQUIRED_SCOPES,
        form=ActionForm(),
        user=current_user,
        registered_by=_registered_by(client),
        return_host=host_of(redirect_uri),
    )


def _registered_by(client) -> str:
    """Who registered the app, in the consent page's words: only what this server knows.

    A developer's name and address are whatever they typed (addresses are never confirmed),
    so neither is shown: "Google Security Team" or "the operator" would read as a fact. What
    a person can trust is the operator's own word (an app it registered or verified) and the
    host they are sent back to, which the page shows apart.
    """
    if not client.self_service:
        return "registered by the operator of this server"
    if client.verified:
        return "registered by a developer and verified by the operator of this server"
    if client.owner is not None:
        return "registered by a developer with an account on this server"
    return "registered through self-service registration"


#: Authlib's and our error descriptions, as the exact reason a developer reads in the console.
_REASONS = {
    "Invalid 'code' in request.": "unknown authorization code (never issued, or to another client)",
    "Invalid 'redirect_uri' in request.": "redirect_uri differs from the authorization request's",
    "Code challenge failed.": "PKCE failure: the code_verifier does not match the code_challenge",
    "Missing 'code_verifier'": "PKCE failure: code_verifier missing",
    "Invalid 'code_verifier'": "PKCE failure: malformed code_verifier",
    "The authorization code has already been used.": "authorization code reused (what it "
    "issued is revoked)",
    "The authorization code has expired.": "authorization code expired",
    CODE_WITHDRAWN: "authorization code withdrawn before it was redeemed (the person removed "
    "access, took a scope back or logged out with disconnect, or the account or client was "
    "disabled)",
    "The refresh token was already used.": "refresh token sent again within the retry window "
    "after the person took a scope back (the first answer is not repeated)",
    "The refresh token was already used; its grant is revoked.": "refresh token reused (its "
    "grant is revoked)",
    "The refresh token has expired or was revoked.": "refresh token expired or revoked",
}


def refusal_reason(error: str, description: str | None) -> str:
    """The exact reason a request was refused, in a developer's words (never a credential:
    descriptions name parameters, not their values)."""
    if description in _REASONS:
        return _REASONS[description]
    if error == "invalid_client":
        return "client authentication failed: wrong client secret, or a method it may not use"
    if error == "invalid_scope":
        return f"scope not allowed: {description or 'not registered for this client'}"[:300]
    if error == "unauthorized_client":
        return "grant type not registered for this client"
    if description and "code_challenge" in description:
        return f"PKCE failure: {description}"[:300]
    return (description or error)[:300]


def _authorize_refused(client_id: str | None, error: str, reason: str) -> None:
    """Put a refused authorization request on its (registered) client's record."""
    client = find_client(client_id)
    if client is None:
        return  # nobody to tell, and no reason to let strangers write to the record
    user = current_user._get_current_object() if current_user.is_authenticated else None
    audit.record_refusal(
        "authorize.refused",
        user=user,
        client_id=client.client_id,
        actor=f"user:{user.subject}" if user is not None else audit.ANONYMOUS,
        address=request.remote_addr,
        error=error,
        reason=reason,
    )


_UNSUPPORTED_PARAMETERS = {
    "request": RequestNotSupportedError,
    "request_uri": RequestURINotSupportedError,
    "registration": RegistrationNotSupportedError,
}


def _request_error(prompts: list[str]) -> OAuth2Error | None:
    """What is wrong with this authorization request before anyone looks at who sent it."""
    problem = parameter_problem(request.args)
    if problem:
        return InvalidRequestError(problem)
    # OIDC Core §6 and §7.2.1: features we do not implement are refused by name, not ignored.
    for parameter, unsupported in _UNSUPPORTED_PARAMETERS.items():
        if parameter in request.args:
            return unsupported()
    if "none" in prompts and len(prompts) > 1:
        return InvalidRequestError("'prompt=none' cannot be combined.")
    problem = codes.max_age_problem(request.args.get("max_age")) or codes.nonce_problem(
        request.args.get("nonce")
    )
    return InvalidRequestError(problem) if problem else None


def _url_after_login(prompts: list[str]) -> str:
    """This request, minus ``prompt=login``, ``max_age`` and ``id_token_hint`` (keeping them would
    send the person straight back to the login page): the login page's ``next``. What they ask
    is remembered server-side under this URL (``reauthentication``), so opening it without the
    login still meets them."""
    args = request.args.copy()
    args.poplist("prompt")
    args.poplist("max_age")
    args.poplist("id_token_hint")
    rest = [p for p in prompts if p != "login"]
    if rest:
        args["prompt"] = " ".join(rest)
    return request.path + "?" + urlencode(list(args.items(multi=True)))


def _lock_grant(client, login: UserSession) -> tuple[str, int] | None:
    """Take the person's lock before a code is issued (``services.locks``); an error page if,
    by the time it is held, the session was ended or the account or app disabled."""
    locked = locks.lock_for_issuance(current_user.id, client.id)
    if not locked.client_live:
        db.session.rollback()
        return error_page(
            "Application disabled",
            f"{client.name} has been disabled by the operator of this server. "
            "Nothing was shared with it.",
        )
    if not locked.person_live or not sessions.still_open(login):
        db.session.rollback()
        return error_page(
            "You were logged out",
            "Your session ended while this page was open. Nothing was shared; log in again "
            "and retry from the application.",
        )
    return None


def _issue_code(grant, granted: list[str], login: UserSession) -> Response:
    """The code for what the person granted, as they are logged in now; one commit keeps the
    consent (if it changed) and the code together."""
    grantor = Grantor(
        user=current_user._get_current_object(),
        granted_scope=join_scopes(granted),
        auth_time=login.auth_time,
        session_id=login.sid,
    )
    response = authorization_server().create_authorization_response(grant=grant, grant_user=grantor)
    if "code" in parse_qs(urlsplit(response.headers.get("Location", "")).query):
        db.session.commit()
        note(outcome="code_issued")
    else:
        db.session.rollback()
    return with_issuer(response)


def cacheable_json(body: bytes, etag: str, max_age: int) -> Response:
    """A public JSON document from memory, with an ETag so a client that has it gets 304."""
    headers = [("Cache-Control", f"public, max-age={max_age}"), ("ETag", etag)]
    # RFC 9110 §13.1.2: weak comparison; a list of tags or "*" may be sent.
    presented = request.headers.get("If-None-Match", "")
    if presented and (presented.strip() == "*" or etag in presented.replace("W/", "").split(", ")):
        return Response(status=304, headers=headers)
    return Response(body, headers=headers, content_type="application/json")


def committed_if_ok(response: Response, record: str | None = None) -> Response:
    """The endpoint's one commit: what the request changed is kept only if it succeeded.

    With ``record``, a refusal that names a registered client is put on that client's record
    (``record`` is the event's name), after the rollback and in a transaction of its own.
    """
    if response.status_code < 400:
        db.session.commit()
        note(outcome="ok")
        return response
    db.session.rollback()
    note(outcome=_error_code(response))
    if record is not None:
        _record_refusal(record, response)
    return response


def _error_code(response: Response) -> str:
    """The RFC 6749 §5.2 ``error`` of a refusal (a short code, never a credential)."""
    body = response.get_json(silent=True)
    error = body.get("error") if isinstance(body, dict) else None
    return error[:64] if isinstance(error, str) else f"http_{response.status_code}"


def _record_refusal(event: str, response: Response) -> None:
    body = response.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return
    client = find_client(throttling.claimed_client_id())
    if client is None:
        return  # an unknown client has no developer to tell; strangers do not fill the record
    client_id = client.client_id
    # Only a client's secret proves the request came from it; a public client's id, or a wrong
    # secret, anyone can send (and those refusals must not push out the proven ones).
    proven = not client.is_public and throttling.authenticated_client_id() == client_id
    db.session.rollback()  # end the lookup's read before writing on a connection of our own
    grant_type = request.form.get("grant_type")
    audit.record_refusal(
        event,
        client_id=client_id,
        actor=f"client:{client_id}" if proven else audit.ANONYMOUS,
        address=request.remote_addr,
        error=body["error"][:64],
        reason=refusal_reason(body["error"], body.get("error_description")),
        grant_type=grant_type if grant_type in GRANT_TYPES else None,
    )


def _uncached(response: Response) -> Response:
    """RFC 6749 §5.1: token material, and errors about it, must not be cached."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/oauth/token")
@csrf.exempt
@throttling.machine_endpoint
def token() -> Response:
    grant_type = request.form.get("grant_type")
    note(grant_type=grant_type if grant_type in GRANT_TYPES else None)
    response = authorization_server().create_token_response()
    return _uncached(committed_if_ok(response, record="token.refused"))


@bp.get("/oauth/jwks")
def jwks() -> Response:
    published = keys.jwks()
    # A cold process read the keys (or a fresh install just made its first, to keep); a warm
    # one answered from memory without so much as making a session.
    if db.session.registry.has() and db.session().in_transaction():
        db.session.commit()
    # Short, so a rotation reaches resource servers quickly; they refetch on unknown kid anyway.
    return cacheable_json(published.body, published.etag, max_age=300)


@bp.post("/oauth/revoke")
@csrf.exempt
@throttling.machine_endpoint
def revoke() -> Response:
    return _uncached(committed_if_ok(authorization_server().create_endpoint_response("revocation")))


@bp.post("/oauth/introspect")
@csrf.exempt
@throttling.machine_endpoint
def introspect() -> Response:
    response = authorization_server().create_endpoint_response("introspection")
    note(outcome="ok" if response.status_code < 400 else _error_code(response))
    return _uncached(response)


@bp.post("/oauth/register")
@csrf.exempt
@throttling.registration_endpoint
def register() -> Response:
    if not current_app.config["REGISTRATION_ENABLED"]:
        abort(404)
    return committed_if_ok(authorization_server().create_endpoint_response("client_registration"))


@bp.route("/oauth/register/<client_id>", methods=["GET", "PUT", "DELETE"])
@csrf.exempt
@throttling.registration_endpoint
def client_configuration(client_id: str) -> Response:
    if not current_app.config["REGISTRATION_ENABLED"]:
        abort(404)
    return committed_if_ok(authorization_server().create_endpoint_response("client_configuration"))
