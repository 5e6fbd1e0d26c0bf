"""Sign up, log in, log out."""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from .. import clock, policy, throttling
from ..extensions import csrf, db
from ..forms import LoginForm, LogoutForm, SignupForm
from ..models import User, UserSession
from ..oauth2 import authorization_server
from ..services import ServiceError, accounts, audit, factors, sessions, users
from . import pushed, reauthentication
from .current import current_login
from .hosts import host_of
from .responses import UriMismatch, authorize_refused, uri_mismatch

bp = Blueprint("auth", __name__)


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this server: anything else would make login an open redirect."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return default
    return target


def start_session(user: User, next_url: str | None = None, amr: list[str] | None = None) -> None:
    """A fresh session at login, so an id planted before it is worth nothing (session fixation).

    What authorization requests asked of this login outlives the reset, and the login is marked
    as made for ``next_url``, the page it goes on to (``reauthentication``).
    """
    old_sid = session.get("sid")
    login = sessions.start_session(user, request.remote_addr, request.user_agent.string, amr)
    sessions.end_session(old_sid)
    audit.record(
        "login.succeeded", user=user, address=request.remote_addr, methods=login.amr or "pwd"
    )
    db.session.commit()
    remembered = reauthentication.requirements()
    pushed_claims = pushed.carried()
    session.clear()
    session["sid"] = login.sid
    session["auth_time"] = int(login.auth_time.timestamp())
    reauthentication.logged_in(remembered, login.sid, next_url)
    pushed.restore(pushed_claims)
    login_user(user)


#: The session cookie's key for a second step in progress (``views.factors``).
SECOND_STEP = "second_step"


def begin_second_step(user: User, step_up: UserSession | None = None) -> None:
    """The password was right (or, for a step up, the person is logged in in ``step_up``): a
    code or passkey comes next, on ``/login/second-factor``."""
    session[SECOND_STEP] = {
        "user": user.id,
        "sid": step_up.sid if step_up is not None else None,
        "since": int(clock.now().timestamp()),
    }


@bp.route("/")
def index() -> str:
    """What this is, where to sign up or log in, the console, and the discovery URL."""
    return render_template(
        "home.html",
        discovery_url=current_app.config["ISSUER"] + "/.well-known/openid-configuration",
    )


@bp.route("/signup", methods=["GET", "POST"])
@throttling.signups
def signup() -> Response | tuple[str, int]:
    form = SignupForm()
    next_url = safe_next(request.args.get("next"), url_for("account.apps"))
    if form.validate_on_submit():
        try:
            user = users.create_user(form.email.data, form.password.data, form.name.data or "")
        except users.EmailTaken as taken:
            # Same answer as a new account: the page must not tell who has one. The holder
            # is told instead (their account's recent activity).
            audit.record(
                "signup.duplicate",
                outcome="refused",
                user=taken.user,
                actor="anonymous",
                address=request.remote_addr,
            )
            # ...and mailed, with a reset link: the same work as a new account's mail.
            accounts.tell_owner_of_taken_signup(taken.user)
            db.session.commit()
            return _after_signup(form.email.data, next_url)
        except ServiceError as error:
            getattr(form, error.field or "email").errors.append(error.message)
        else:
            audit.record("signup.succeeded", user=user, address=request.remote_addr)
            accounts.send_verification(user, next_url)
            db.session.commit()
            return _after_signup(user.email, next_url)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/signup.html", form=form, next=next_url), status


def _after_signup(email: str, next_url: str) -> Response:
    """New account or not, the same next step: log in (the form remembers the address)."""
    session["login_email"] = users.normalize_email(email)
    flash(
        "Thanks! We sent a link to your address: following it confirms the address and signs "
        "you in. Log in with your email and password to continue now.",
        "success",
    )
    return redirect(url_for("auth.login", next=next_url))


@bp.route("/login", methods=["GET", "POST"])
@throttling.login_attempts
def login() -> Response | tuple[str, int]:
    form = LoginForm()
    next_url = safe_next(request.args.get("next"), url_for("account.apps"))
    error = None
    if request.method == "GET" and not form.email.data:
        form.email.data = session.get("login_email")
    if form.validate_on_submit():
        user = users.authenticate(form.email.data, form.password.data)
        if user is not None and factors.has_second_factor(user):
            # The password alone is not enough: the second step (``views.factors``) comes
            # next, and starts the session once a code or passkey passed.
            begin_second_step(user)
            return redirect(url_for("factors.second_step", next=next_url))
        if user is not None:
            start_session(user, next_url)
            return redirect(next_url)
        # Only a wrong password counts toward throttling: people signing in are never refused.
        throttling.login_failed()
        known = users.find_by_email(form.email.data)
        audit.record(
            "login.failed",
            outcome="failure",
            user=known,
            actor="anonymous",
            address=request.remote_addr,
        )
        db.session.commit()
        # One message for both cases: which one was wrong is not ours to tell.
        error = "Incorrect email or password."
    elif request.method == "POST" and not form.errors.get("csrf_token"):
        error = "Enter your email and password."
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form, next=next_url, error=error), status


@bp.post("/logout")
@login_required
def logout() -> Response:
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.apps"))
    sessions.log_out(
        current_user._get_current_object(),
        session.get("sid"),
        revoke_tokens=bool(form.revoke_tokens.data),
        everywhere=bool(form.everywhere.data),
    )
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/oauth/logout", methods=["GET", "POST"])
@csrf.exempt  # a relying party may POST the request; the confirmation is checked below
def end_session() -> Response | str | tuple[str, int]:
    """OpenID Connect RP-Initiated Logout: confirm, end the session, go back to the app."""
    server = authorization_server()
    try:
        logout_request = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return render_template(
            "errors/error.html",
            title="This logout request is not valid",
            message=error.get_error_description() or error.error,
        ), 400

    mismatch = _unregistered_logout_target(logout_request)
    form = LogoutForm()
    hint = logout_request.id_token_claims or {}
    return_to = logout_request.redirect_uri  # registered for the hint's client, with state
    login = current_login()
    if login is None:
        # Nobody's session to end, so nothing vouches for sending this visitor anywhere: a
        # redirect on any ID token of a (self-registered) client would be an open redirector
        # (RFC 9700 §4.11.2). The way back is a link that says where it goes.
        return _logged_out(logout_request.client, return_to, mismatch)

    confirmed = request.method == "POST" and request.form.get("confirm") == "yes"
    if confirmed and not form.validate_on_submit():
        confirmed = False
    # Only an ID token issued in this very login session vouches for ending it (§2, §6): the
    # same person's token from an earlier, ended session proves nothing about this one.
    vouched = policy.id_token_hint_vouches_for_logout(hint, current_user.subject, login.sid)
    if not (confirmed or vouched):
        return render_template(
            "auth/logout_confirm.html",
            form=form,
            client=logout_request.client,
            params=server.create_oauth2_request(None).payload.data,
            return_host=host_of(return_to) if return_to else None,
        )
    sessions.log_out(
        current_user._get_current_object(),
        session.get("sid"),
        revoke_tokens=bool(confirmed and form.revoke_tokens.data),
    )
    db.session.commit()
    logout_user()
    session.clear()
    if return_to:
        return redirect(return_to)
    return _logged_out(logout_request.client, None, mismatch)


def _unregistered_logout_target(logout_request) -> UriMismatch | None:
    """RP-Initiated Logout §3: no redirect to a ``post_logout_redirect_uri`` the client has not
    registered. The logout itself goes ahead (the person asked to be logged out); the pages say
    why nobody was sent back, and the refusal goes on the client's record for its developer."""
    client = logout_request.client
    sent = logout_request.request.payload.data.get("post_logout_redirect_uri")
    if client is None or not sent or sent in client.post_logout_redirect_uris:
        return None
    authorize_refused(
        client.client_id,
        "invalid_request",
        # Whoever sent the request chose this text: a short, sanitised prefix is kept.
        f"post_logout_redirect_uri not registered: {audit.quoted_uri(sent)}",
        event="logout.refused",
    )
    return uri_mismatch(client, "post_logout_redirect_uri", sent, client.post_logout_redirect_uris)


def _logged_out(client, return_to: str | None, mismatch: UriMismatch | None = None) -> str:
    return render_template(
        "auth/logged_out.html",
        client=client,
        mismatch=mismatch,
        return_to=return_to,
        return_host=host_of(return_to) if return_to else None,
    )
