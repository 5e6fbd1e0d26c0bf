"""Sign up, log in, log out."""

from __future__ import annotations

import secrets
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

from .. import clock
from ..extensions import csrf, limiter
from ..forms import LoginForm, LogoutForm, SignupForm
from ..models import User
from ..oauth2 import authorization_server
from ..services import ServiceError, users
from ..services.sessions import revoke_session_tokens

bp = Blueprint("auth", __name__)


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this server: anything else would make login an open redirect."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return default
    return target


def start_session(user: User) -> None:
    """A fresh session at login, so an id planted before it is worth nothing (session fixation)."""
    session.clear()
    login_user(user)
    session["auth_time"] = int(clock.now().timestamp())
    session["sid"] = secrets.token_urlsafe(16)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/")
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("account.apps"))
    return redirect(url_for("auth.login"))


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def signup() -> Response | str:
    form = SignupForm()
    next_url = safe_next(request.args.get("next"), url_for("account.apps"))
    if form.validate_on_submit():
        try:
            user = users.create_user(form.email.data, form.password.data, form.name.data or "")
        except ServiceError as error:
            getattr(form, error.field or "email").errors.append(error.message)
        else:
            start_session(user)
            flash("Welcome! Your account is ready.", "success")
            return redirect(next_url)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/signup.html", form=form, next=next_url), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> Response | str:
    form = LoginForm()
    next_url = safe_next(request.args.get("next"), url_for("account.apps"))
    error = None
    if form.validate_on_submit():
        user = users.authenticate(form.email.data, form.password.data)
        if user is not None:
            start_session(user)
            return redirect(next_url)
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
    if form.revoke_tokens.data and session.get("sid"):
        revoke_session_tokens(current_user, session["sid"])
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

    form = LogoutForm()
    hint = logout_request.id_token_claims or {}
    if current_user.is_authenticated:
        confirmed = request.method == "POST" and request.form.get("confirm") == "yes"
        if confirmed and not form.validate_on_submit():
            confirmed = False
        # A valid id_token_hint naming this very user vouches for the request (§6).
        vouched = hint.get("sub") == current_user.subject
        if not (confirmed or vouched):
            return render_template(
                "auth/logout_confirm.html",
                form=form,
                client=logout_request.client,
                params=server.create_oauth2_request(None).payload.data,
            )
        if confirmed and form.revoke_tokens.data and session.get("sid"):
            revoke_session_tokens(current_user, session["sid"])
        logout_user()
        session.clear()

    if logout_request.redirect_uri:
        return redirect(logout_request.redirect_uri)
    return render_template("auth/logged_out.html")
