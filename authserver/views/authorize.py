"""The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2) as a pipeline of named steps.

Each step either hands its result to the next or answers the request itself (by raising
``Answer``):

0. ``open_pushed_request`` — a ``request_uri`` (RFC 9126) stands for the parameters its client
   pushed, claimed for this browser at its first opening;
1. ``trusted_target`` — the client and its redirect URI; until both check out, an error page and
   never a redirect (RFC 6749 §4.1.2.1);
2. ``checked_request`` — what is wrong with the request, and its ``id_token_hint``; errors go
   back to the app only once the person is known (RFC 9700 §4.11.2);
3. ``logged_in`` — who is at the keyboard, logging in (again) when the request asks for it;
4. ``consent_grant`` — Authlib's validation of the rest (scope, PKCE, response type);
5. ``decision`` (the consent form posted back) or ``consent_or_code`` (consent given before, or
   the page that asks for it). A code is issued under the person's lock (``services.locks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
    RegistrationNotSupportedError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.wrappers import Response

from .. import clock, policy
from ..extensions import db
from ..forms import ActionForm
from ..logs import note
from ..models import Client, UserSession
from ..oauth2 import authorization_server
from ..oauth2.errors import InvalidTargetError, refusal_reason
from ..oauth2.server import parameter_problem
from ..oauth2.storage import Grantor, resolve_client
from ..scopes import REQUIRED_SCOPES, describe, join_scopes, scope_list
from ..services import audit, codes, consents, factors, locks, pushed_requests, resources, sessions
from ..services.clients import find_client
from ..services.metadata_documents import DocumentRefused
from ..services.tokens import decode_id_token_hint
from . import pushed, reauthentication
from .auth import begin_second_step
from .current import current_login
from .hosts import host_of
from .responses import authorize_refused, error_page, uri_mismatch, with_issuer

bp = Blueprint("authorize", __name__)


class Answer(Exception):
    """A step's answer to the whole request: the pipeline stops there."""

    def __init__(self, response: Response | tuple[str, int]) -> None:
        super().__init__()
        self.response = response


@dataclass(frozen=True)
class Target:
    """A registered, enabled client and a redirect URI it registered: where answers may go."""

    client: Client
    redirect_uri: str
    prompts: list[str]

    def error(self, error: OAuth2Error, refused: bool = True) -> Answer:
        """``error`` sent back to the app (RFC 6749 §4.1.2.1, with ``iss``, RFC 9207); a
        refusal goes on its record for the developer unless it is an answer by design."""
        note(outcome=error.error)
        if refused:
            _refused(error)
        error.redirect_uri = self.redirect_uri
        error.state = request.args.get("state")
        return Answer(with_issuer(authorization_server().handle_error_response(None, error)))


def posted_authorization_request() -> Response | None:
    """OIDC Core §3.1.2.1: the authorization request may also come POSTed, form-encoded. It is
    the same request as by GET, so the browser is sent to that GET (303), before the CSRF check:
    that check guards the consent form, which posts back to the request's URL with its token,
    whereas a request carries none (anyone may send one, as anyone may send a link). A request
    run here instead would have to read every parameter from two places."""
    if request.method != "POST" or request.query_string:
        return None
    if request.mimetype != "application/x-www-form-urlencoded":
        return None
    if not request.form or "csrf_token" in request.form:
        return None
    query = urlencode(list(request.form.items(multi=True)))
    return redirect(url_for("authorize.authorize") + "?" + query, code=303)


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Response | str | tuple[str, int]:
    target = None
    try:
        pushed_request = open_pushed_request()
        target = trusted_target()
        if pushed_request is None and policy.must_push(
            target.client.require_pushed_authorization_requests,
            bool(current_app.config["REQUIRE_PUSHED_AUTHORIZATION_REQUESTS"]),
        ):
            raise target.error(
                InvalidRequestError("This client must push its authorization requests (PAR).")
            )
        hint = checked_request(target)
        login = logged_in(target, hint)
        grant = consent_grant(target)
        if request.method == "POST":
            return in_response_mode(target, decision(target, grant, login))
        return in_response_mode(target, consent_or_code(target, grant, login))
    except Answer as answer:
        return in_response_mode(target, answer.response)


#: The response modes this server answers in (OAuth 2.0 Multiple Response Type Encoding
#: Practices §2.1 and OAuth 2.0 Form Post Response Mode); ``query`` is the code flow's default.
RESPONSE_MODES = ("query", "form_post")
#: What an authorization response carries back to the client (RFC 6749 §4.1.2, §4.1.2.1, RFC 9207).
RESPONSE_PARAMETERS = ("code", "state", "iss", "error", "error_description", "error_uri")


def in_response_mode(
    target: Target | None, response: Response | str | tuple[str, int]
) -> Response | str | tuple[str, int]:
    """The answer to the client as the request's ``response_mode`` asks: with
    ``form_post``, a redirect back to the client becomes a page whose form posts the same
    parameters to the redirect URI, submitted by a static script (no inline script: the CSP
    stays), or by the person's click without JavaScript. Other answers stay as they are."""
    if target is None or request.args.get("response_mode") != "form_post":
        return response
    if not isinstance(response, Response) or response.status_code not in (302, 303):
        return response
    location = response.headers.get("Location", "")
    base = target.redirect_uri
    if not (location.startswith(base) and location[len(base) : len(base) + 1] in ("?", "&")):
        return response  # the login page, not the client
    fields = [
        (name, value)
        for name, value in parse_qsl(urlsplit(location).query, keep_blank_values=True)
        if name in RESPONSE_PARAMETERS
    ]
    page = render_template(
        "oauth2/form_post.html",
        client=target.client,
        action=target.redirect_uri,
        fields=fields,
        return_host=host_of(target.redirect_uri),
    )
    return Response(page, status=200, mimetype="text/html")


# --- 0. a pushed request (RFC 9126) ---------------------------------------------------------


def open_pushed_request() -> str | None:
    """RFC 9126 §4: ``request_uri`` (with ``client_id``) stands for the parameters that client
    pushed, which replace the query; anything else in the query is ignored. Its first opening
    claims it for this browser; an unknown, expired, reused or another client's ``request_uri``
    gets an error page (where to redirect is among what is unknown). The request_uri, or None.
    """
    request_uri = request.args.get("request_uri")
    if request_uri is None or not request_uri.startswith(pushed_requests.REQUEST_URI_PREFIX):
        # Not one of ours: a request object by reference (RFC 9101), which ``checked_request``
        # answers with request_uri_not_supported.
        return None
    client = find_client(request.args.get("client_id"))
    if client is None or client.disabled_at is not None:
        return None  # the next step says so, as for any request
    if len(request.args.getlist("request_uri")) > 1:
        raise Answer(error_page("Invalid request", "request_uri was sent more than once."))
    if pushed.claimed_here(request_uri):
        parameters = pushed_requests.reopen(request_uri, client)
    else:
        parameters = pushed_requests.claim(request_uri, client)
        if parameters is not None:
            db.session.commit()  # claimed now, whatever happens next
            pushed.remember(request_uri)
    if parameters is None:
        db.session.rollback()
        authorize_refused(client.client_id, "invalid_request_uri", "request_uri unknown or used")
        raise Answer(
            error_page(
                "Request expired",
                f"This sign-in request from {client.name} has expired or was already used. "
                "Nothing was shared; go back to the application and start again.",
            )
        )
    # Werkzeug's ``args`` is a cached property: what every later step (and Authlib) reads.
    request.args = ImmutableMultiDict(parameters)
    g.pushed_request_uri = request_uri
    return request_uri


# --- 1. the client and where answers go -------------------------------------------------------


def trusted_target() -> Target:
    """The client and redirect URI, or an error page saying why not (never a redirect).

    A refusal that names a registered client goes on that client's record for its developer.
    """
    for name in ("client_id", "redirect_uri"):
        if len(request.args.getlist(name)) > 1:
            raise Answer(
                error_page("Invalid request", f"The parameter '{name}' was sent more than once.")
            )
    try:
        client = resolve_client(request.args.get("client_id"))
    except DocumentRefused as refused:
        # No redirect: the document that would list where answers may go is not trusted.
        raise Answer(
            error_page(
                "Application not recognised",
                "The application that sent you here names itself by a web address whose "
                f"description this server could not accept. Nothing was shared with it. "
                f"{refused}",
            )
        ) from None
    if client is None:
        raise Answer(
            error_page(
                "Unknown application",
                "The application that sent you here is not registered with this server. "
                "Nothing was shared with it.",
            )
        )
    note(client_id=client.client_id)
    if client.disabled_at is not None:
        authorize_refused(client.client_id, "invalid_client", "client disabled by the operator")
        raise Answer(_app_disabled(client))
    redirect_uri = request.args.get("redirect_uri")
    if redirect_uri is None:
        redirect_uri = client.get_default_redirect_uri()
        if redirect_uri is None:
            authorize_refused(client.client_id, "invalid_request", "redirect_uri missing")
            raise Answer(
                error_page("Invalid request", f"{client.name} did not say where to send you back.")
            )
    elif not client.check_redirect_uri(redirect_uri):
        authorize_refused(
            client.client_id,
            "invalid_request",
            # Whoever sent the request chose this text: a short, sanitised prefix is kept.
            f"redirect_uri not registered: {audit.quoted_uri(redirect_uri)}",
        )
        raise Answer(
            error_page(
                "Redirect address not allowed",
                f"{client.name} asked to send you to an address it has not registered. "
                "Nothing was shared with it.",
                mismatch=uri_mismatch(client, "redirect_uri", redirect_uri, client.redirect_uris),
            )
        )
    prompts = " ".join(request.args.getlist("prompt")).split()
    return Target(client, redirect_uri, prompts)


def _app_disabled(client: Client) -> tuple[str, int]:
    return error_page(
        "Application disabled",
        f"{client.name} has been disabled by the operator of this server. "
        "Nothing was shared with it.",
    )


def _refused(error: OAuth2Error) -> None:
    authorize_refused(
        request.args.get("client_id"),
        error.error,
        refusal_reason(error, error.error, error.get_error_description()),
    )


# --- 2. what is wrong with the request --------------------------------------------------------

_UNSUPPORTED_PARAMETERS = {
    "request": RequestNotSupportedError,
    "request_uri": RequestURINotSupportedError,
    "registration": RegistrationNotSupportedError,
}


def checked_request(target: Target) -> dict | None:
    """The claims of the request's ``id_token_hint`` (if any), once nothing is wrong with it.

    An error goes back to the app only once the person has logged in and can be held to it: a
    redirect on anyone's click would be an open redirector (RFC 9700 §4.11.2).
    """
    hint = None
    error = request_error(target.prompts)
    if error is None and "id_token_hint" in request.args:
        hint = decode_id_token_hint(request.args["id_token_hint"], allow_expired=True)
        if hint is None:
            error = InvalidRequestError("The id_token_hint is not an ID token issued here.")
    if error is None:
        return hint
    if current_user.is_authenticated:
        raise target.error(error)
    if "none" in target.prompts:
        # Logging in is no part of a silent request, so say what is wrong here.
        _refused(error)
        raise Answer(error_page("Invalid request", error.get_error_description() or error.error))
    raise Answer(redirect(url_for("auth.login", next=request.full_path)))


def request_error(prompts: list[str]) -> OAuth2Error | None:
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
    if request.args.get("response_mode", "query") not in RESPONSE_MODES:
        return InvalidRequestError("'response_mode' must be 'query' or 'form_post'.")
    problem = (
        codes.max_age_problem(request.args.get("max_age"))
        or codes.nonce_problem(request.args.get("nonce"))
        or policy.dpop_jkt_problem(request.args.get("dpop_jkt"))
    )
    if problem:
        return InvalidRequestError(problem)
    return resource_error(request.args.getlist("resource"))


def resource_error(requested: list[str]) -> OAuth2Error | None:
    """RFC 8707 §2: each ``resource`` an absolute URI tokens may be issued for."""
    problem = policy.resource_problem(requested)
    if problem:
        return InvalidTargetError(problem)
    unknown = resources.unknown(requested)
    if unknown:
        return InvalidTargetError("The requested resource is not known to this server.")
    return None


# --- 3. who is at the keyboard ----------------------------------------------------------------


def logged_in(target: Target, hint: dict | None) -> UserSession:
    """The login session this request is answered in, after a login if the request asks for
    one (``prompt=login``, ``max_age``, a hint for someone else: ``policy.must_log_in``)."""
    prompts = target.prompts
    max_age = request.args.get("max_age")
    login = current_login()
    after_login = url_after_login(prompts)
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
    if login is None or policy.must_log_in(
        logged_in_subject=current_user.subject,
        auth_time=login.auth_time,
        now=clock.now(),
        requirement=requirement,
        fresh_login_for_this_request=fresh_login,
    ):
        if "none" in prompts:
            # OIDC Core §3.1.2.1: prompt=none must not show any page.
            raise target.error(LoginRequiredError(), refused=False)
        reauthentication.remember(after_login, requirement)
        raise Answer(redirect(url_for("auth.login", next=after_login)))
    if policy.hint_names_someone_else(requirement, current_user.subject):
        # Logged in just now for this request, and still not whom the app expects: an answer
        # (OIDC Core §3.1.2.1), not another login page. The request stays unanswered for them.
        reauthentication.remember(after_login, requirement)
        raise target.error(
            LoginRequiredError("The person who logged in is not the one id_token_hint names."),
            refused=False,
        )
    step_up(target, login, after_login)
    return login


def step_up(target: Target, login: UserSession, after_login: str) -> None:
    """``acr_values=urn:authserver:acr:mfa`` and no second factor passed in this session: ask
    for one (``policy.needs_second_factor``). A person with none enrolled cannot be asked; the
    request goes on and the ID token's ``acr`` says what the login was worth (``acr_values``
    is a voluntary claim, OIDC Core §3.1.2.1)."""
    if not policy.needs_second_factor(request.args.get("acr_values"), sessions.methods_of(login)):
        return
    if not factors.has_second_factor(current_user):
        return
    if "none" in target.prompts:
        raise target.error(InteractionRequiredError(), refused=False)
    begin_second_step(current_user._get_current_object(), step_up=login)
    raise Answer(redirect(url_for("factors.second_step", next=after_login)))


def url_after_login(prompts: list[str]) -> str:
    """This request, minus ``prompt=login``, ``max_age`` and ``id_token_hint`` (keeping them would
    send the person straight back to the login page): the login page's ``next``. What they ask
    is remembered server-side under this URL (``reauthentication``), so opening it without the
    login still meets them."""
    if g.get("pushed_request_uri"):
        # The pushed request again (this browser claimed it); its login requirements are
        # remembered under this URL like any other's.
        return request.full_path
    args = request.args.copy()
    args.poplist("prompt")
    args.poplist("max_age")
    args.poplist("id_token_hint")
    rest = [p for p in prompts if p != "login"]
    if rest:
        args["prompt"] = " ".join(rest)
    return request.path + "?" + urlencode(list(args.items(multi=True)))


# --- 4. the rest of the request, as Authlib validates it --------------------------------------


def consent_grant(target: Target):
    """Authlib's grant for this request (scope, PKCE, response type checked)."""
    try:
        return authorization_server().get_consent_grant(end_user=current_user)
    except OAuth2Error as error:
        # Client and redirect URI are verified by now, so every other error goes back to it.
        raise target.error(error) from None


# --- 5. consent and the code ------------------------------------------------------------------


def decision(target: Target, grant, login: UserSession) -> Response | tuple[str, int]:
    """The consent form, posted back: deny, or keep what was ticked and issue its code."""
    server = authorization_server()
    if not ActionForm().validate_on_submit():
        return error_page("Session expired", "The form expired; please go back and retry.")
    if request.form.get("decision") != "allow":
        return with_issuer(server.create_authorization_response(grant=grant, grant_user=None))
    lock_grant(target.client, login)
    requested = scope_list(grant.request.scope)
    granted = policy.granted_scopes(requested, request.form.getlist("scope"))
    # Flushed, not committed: the code below commits both, or neither is kept.
    consents.record_consent(
        current_user,
        target.client,
        requested,
        granted,
        address=request.remote_addr,
        resources=named_resources(request.args.getlist("resource")),
    )
    if not granted:
        db.session.commit()  # granting nothing is an answer to keep, with no code to go
        return with_issuer(server.create_authorization_response(grant=grant, grant_user=None))
    return issue_code(grant, granted, login)


def consent_or_code(target: Target, grant, login: UserSession) -> Response | str | tuple[str, int]:
    """A code at once for what was granted before (``policy.must_ask_consent``), else the page
    that asks (or ``consent_required`` for a silent request)."""
    client, prompts = target.client, target.prompts
    requested = scope_list(grant.request.scope)
    unapproved = set(named_resources(request.args.getlist("resource"))) - set(
        consents.granted_resources(current_user, client)
    )
    if not policy.must_ask_consent(
        consents.granted(current_user, client), requested, prompts, unapproved
    ):
        # Asked again under the person's lock: "Remove access" may have committed meanwhile.
        lock_grant(client, login)
        if not policy.must_ask_consent(consents.granted(current_user, client), requested, prompts):
            return issue_code(grant, requested, login)
        db.session.rollback()
    if "none" in prompts:
        raise target.error(ConsentRequiredError(), refused=False)
    return consent_page(
        client,
        requested,
        return_host=host_of(target.redirect_uri),
        resources=request.args.getlist("resource"),
    )


def consent_page(
    client: Client,
    requested: list[str],
    *,
    return_host: str | None,
    resources: list[str],
    action: str | None = None,
    hidden: list[tuple[str, str]] | None = None,
) -> str:
    """The consent page: one box per requested scope (those granted before apart), the app,
    who registered it, where the answer goes and which resources it reaches. The device page
    (``device.py``) shows the same page, posting to itself with the user code kept."""
    earlier = set(consents.granted(current_user, client) or [])
    return render_template(
        "oauth2/consent.html",
        client=client,
        already=[s for s in describe(requested) if s.name in earlier],
        new=[s for s in describe(requested) if s.name not in earlier],
        required=REQUIRED_SCOPES,
        form=ActionForm(),
        user=current_user,
        registered_by=registered_by(client),
        document_host=client.document_host,
        local_only=client.metadata_document
        and policy.only_loopback_redirects(client.redirect_uris),
        return_host=return_host,
        resources=named_resources(resources),
        action=action or request.full_path,
        hidden=hidden or [],
    )


def named_resources(requested: list[str]) -> list[str]:
    """The resources the consent page names: any but the default audience, which every token
    reaches unless the app asks otherwise (RFC 8707)."""
    default = resources.default_audience()
    return [uri for uri in dict.fromkeys(requested) if uri not in default]


def registered_by(client: Client) -> str:
    """Who registered the app, in the consent page's words: only what this server knows.

    A developer's name and address are whatever they typed (addresses are never confirmed),
    so neither is shown: "Google Security Team" or "the operator" would read as a fact. What
    a person can trust is the operator's own word (an app it registered or verified) and the
    host they are sent back to, which the page shows apart.
    """
    if client.metadata_document:
        return "described by a document its developer published on the web"
    if not client.self_service:
        return "registered by the operator of this server"
    if client.verified:
        return "registered by a developer and verified by the operator of this server"
    if client.owner is not None:
        return "registered by a developer with an account on this server"
    return "registered through self-service registration"


def lock_grant(client: Client, login: UserSession) -> None:
    """Take the person's lock before a code is issued (``services.locks``); an error page if,
    by the time it is held, the session was ended or the account or app disabled."""
    locked = locks.lock_for_issuance(current_user.id, client.id)
    if not locked.client_live:
        db.session.rollback()
        raise Answer(_app_disabled(client))
    if not locked.person_live or not sessions.still_open(login):
        db.session.rollback()
        raise Answer(
            error_page(
                "You were logged out",
                "Your session ended while this page was open. Nothing was shared; log in again "
                "and retry from the application.",
            )
        )


def issue_code(grant, granted: list[str], login: UserSession) -> Response:
    """The code for what the person granted, as they are logged in now; one commit keeps the
    consent (if it changed) and the code together."""
    grantor = Grantor(
        user=current_user._get_current_object(),
        granted_scope=join_scopes(granted),
        auth_time=login.auth_time,
        session_id=login.sid,
        amr=tuple(sessions.methods_of(login)),
    )
    response = authorization_server().create_authorization_response(grant=grant, grant_user=grantor)
    if "code" in parse_qs(urlsplit(response.headers.get("Location", "")).query):
        db.session.commit()
        note(outcome="code_issued")
        if g.get("pushed_request_uri"):
            pushed.forget(g.pushed_request_uri)
    else:
        db.session.rollback()
    return with_issuer(response)
