"""The pages: home with the sign-up button, the OAuth callback, the dashboard, log out."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from . import backchannel, oauth
from .calendar_api import ApiAnswer, call
from .forms import ActionForm, EventForm
from .models import SignIn, User, db

bp = Blueprint("demo", __name__)

CANNOT_READ = "You did not allow this app to see your calendar."
CANNOT_WRITE = "You did not allow this app to change your calendar."


class SignInEnded(Exception):
    """The tokens no longer work and cannot be renewed: the person must sign in again."""


# --- the signed-in browser ------------------------------------------------------------------


def current_sign_in() -> SignIn | None:
    sign_in_id = session.get("sign_in")
    if not isinstance(sign_in_id, str):
        return None
    return db.session.get(SignIn, sign_in_id)


def _now() -> float:
    return current_app.config["CLOCK"]()


def access_token(sign_in: SignIn, force_refresh: bool = False) -> str:
    """A usable access token: the stored one, or a refreshed one when it has expired."""
    leeway = current_app.config["TOKEN_LEEWAY"]
    fresh = sign_in.expires_at is None or sign_in.expires_at - leeway > _now()
    if sign_in.access_token and fresh and not force_refresh:
        return sign_in.access_token
    if not sign_in.refresh_token:
        # No offline_access: nothing to renew the token with.
        raise SignInEnded
    try:
        token = oauth.refresh(sign_in.refresh_token)
    except oauth.RefreshFailed:
        raise SignInEnded from None
    # Refresh tokens rotate at every use: store the successor, or the next refresh fails.
    sign_in.store(token, requested_scope=sign_in.scope, now=_now())
    db.session.commit()
    if sign_in.access_token is None:  # an answer without one: nothing to call the API with
        raise SignInEnded
    return sign_in.access_token


def api(sign_in: SignIn, method: str, path: str, json: Any = None) -> ApiAnswer:
    """Call the resource API; on 401 refresh once and retry; then give up on the sign-in."""
    answer = call(method, path, access_token(sign_in), json=json)
    if answer.status == 401:
        if not sign_in.refresh_token:
            raise SignInEnded
        answer = call(method, path, access_token(sign_in, force_refresh=True), json=json)
        if answer.status == 401:
            raise SignInEnded
    return answer


def _signed_in_or_home() -> SignIn | Response:
    sign_in = current_sign_in()
    if sign_in is None:
        flash("Sign in to see your dashboard.", "info")
        return redirect(url_for("demo.home"))
    return sign_in


@bp.errorhandler(SignInEnded)
def sign_in_ended(_error: SignInEnded) -> tuple[str, int]:
    """Forget this browser's tokens and ask the person to sign in again."""
    sign_in = current_sign_in()
    if sign_in is not None:
        db.session.delete(sign_in)
        db.session.commit()
    session.clear()
    return render_template("sign_in_again.html", form=ActionForm()), 200


@bp.errorhandler(requests.RequestException)
def unreachable(error: requests.RequestException) -> tuple[str, int]:
    current_app.logger.warning("Authserver or the calendar API did not answer: %s", error)
    message = "Authserver or the calendar service is not answering right now. Try again shortly."
    return render_template("problem.html", title="Something is not answering", message=message), 502


# --- pages ----------------------------------------------------------------------------------


@bp.get("/")
def home() -> str:
    if request.args.get("state"):
        # Back from the server's end-session endpoint (RP-Initiated Logout §3).
        try:
            oauth.provider().validate_logout_response()
            flash("You are signed out, here and at Authserver.", "success")
        except OAuthError:
            pass
    return render_template("home.html", sign_in=current_sign_in(), form=ActionForm())


@bp.post("/login")
def login() -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    config = current_app.config
    # Authlib makes state, nonce and the PKCE verifier, and keeps them in this browser's session.
    return oauth.provider().authorize_redirect(config["REDIRECT_URI"], scope=config["SCOPE"])


#: Shown for an answer this browser did not ask for, or that names another server: such an
#: answer may be anyone's link, so nothing in it is repeated to the person.
NOT_OURS = (
    "This sign-in response was not for this app, or not from the expected server, so it was "
    "ignored. If you were signing in, please start again."
)
#: How much of the server's error_description is shown (RFC 6749 §4.1.2.1: for developers).
DESCRIPTION_LENGTH = 200


@bp.get("/callback")
def callback() -> Response | tuple[str, int]:
    provider = oauth.provider()
    state = request.args.get("state")
    error = request.args.get("error")
    if error:
        # RFC 9207 §2.4 and RFC 6749 §10.12: an error response is only as trustworthy as its
        # state and iss. Failing either, it may be a link anyone made ("your account is locked,
        # call ..."), and the person learns only that it was not ours.
        ours = bool(state) and provider.framework.get_state_data(session, state) is not None
        if not ours or not _from_our_issuer(oauth.metadata()):
            return _problem("Sign-in did not work", NOT_OURS)
        provider.framework.clear_state_data(session, state)
        if error == "access_denied":
            return render_template("declined.html", form=ActionForm()), 200
        description = _shown(request.args.get("error_description") or "", DESCRIPTION_LENGTH)
        return _problem(
            "Sign-in did not work",
            f"Authserver could not sign you in ({_shown(error, 64)}"
            f"{': ' + description if description else ''}). Please try again.",
        )

    # RFC 9207: the response names its issuer; a mix-up attack would name another.
    if not _from_our_issuer(oauth.metadata()):
        return _problem("Sign-in did not work", "The answer did not come from Authserver.")

    try:
        # Checks state, sends code + PKCE verifier + redirect URI with the client secret, and
        # validates the ID token (signature, iss, aud, exp, nonce, at_hash).
        token = provider.authorize_access_token()
    except MismatchingStateError:
        return _problem(
            "This sign-in link has expired",
            "We could not match this answer to a sign-in you started here. Please start again.",
        )
    except OAuthError as failure:
        return _problem("Sign-in did not work", f"Authserver said: {failure.error}.")
    id_claims = token.get("userinfo")
    if not id_claims:
        return _problem("Sign-in did not work", "Authserver sent no ID token.")

    claims = provider.userinfo(token=token)
    if claims.get("sub") != id_claims["sub"]:  # OpenID Connect Core §5.3.2
        return _problem("Sign-in did not work", "Authserver's answers did not agree.")

    user, created = _upsert_user(id_claims["iss"], id_claims["sub"], claims, id_claims)
    previous = current_sign_in()
    if previous is not None:  # signing in again in the same browser replaces its tokens
        if previous.refresh_token:
            oauth.revoke(previous.refresh_token, "refresh_token")
        db.session.delete(previous)
    sign_in = SignIn(id=secrets.token_urlsafe(32), user=user)
    sign_in.store(token, requested_scope=current_app.config["SCOPE"], now=_now())
    db.session.add(sign_in)
    db.session.commit()

    session.clear()  # nothing from before the sign-in carries over
    session["sign_in"] = sign_in.id
    name = user.name or user.email or "there"
    if created:
        flash(f"Welcome, {name}! Your account here is ready.", "success")
    else:
        flash(f"Welcome back, {name}.", "success")
    return redirect(url_for("demo.dashboard"))


def _from_our_issuer(metadata: dict) -> bool:
    """RFC 9207 §2.4: ``iss``, when sent (and it must be, if the server says it sends it),
    is the issuer discovery named, compared as a simple string."""
    iss = request.args.get("iss")
    if iss is None:
        return not metadata.get("authorization_response_iss_parameter_supported")
    return iss == metadata["issuer"]


def _shown(text: str, limit: int) -> str:
    """Text from a response, as one printable line of at most ``limit`` characters."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _upsert_user(issuer: str, subject: str, claims: dict, id_claims: dict) -> tuple[User, bool]:
    """The local user for (issuer, subject): made on first sign-in, refreshed on later ones."""
    statement = select(User).where(User.issuer == issuer, User.subject == subject)
    user = db.session.scalar(statement)
    created = False
    if user is None:
        user, created = User(issuer=issuer, subject=subject), True
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:  # the same person signing in twice at once
            db.session.rollback()
            user, created = db.session.scalars(statement).one(), False
    user.name = claims.get("name") or id_claims.get("name") or user.name
    if "email" in claims:
        user.email = claims["email"]
        user.email_verified = claims.get("email_verified")
    user.updated_at = datetime.now(UTC)
    return user, created


def _problem(title: str, message: str) -> tuple[str, int]:
    return render_template("problem.html", title=title, message=message), 400


#: RFC 8176 method names, as the dashboard says them.
METHOD_WORDS = {
    "pwd": "a password",
    "otp": "a one-time code",
    "hwk": "a passkey on a device",
    "swk": "a synced passkey",
    "user": "the device's screen lock",
}


def how_signed_in(id_token: str | None) -> dict | None:
    """``amr`` and ``acr`` of the ID token this sign-in got (validated when it arrived, in
    ``callback``), in words: how Authserver says the person proved who they are."""
    if not id_token or id_token.count(".") != 2:
        return None
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    amr = [m for m in claims.get("amr") or [] if isinstance(m, str)]
    return {
        "amr": amr,
        "acr": claims.get("acr") if isinstance(claims.get("acr"), str) else None,
        "words": [METHOD_WORDS[m] for m in amr if m in METHOD_WORDS],
        "two_factors": "mfa" in amr,
    }


@bp.get("/dashboard")
def dashboard() -> Response | str:
    sign_in = _signed_in_or_home()
    if isinstance(sign_in, Response):
        return sign_in
    can_read = "events:read" in sign_in.scopes
    can_write = "events:write" in sign_in.scopes
    events: list[dict] | None = None
    trouble = None
    if can_read:
        answer = api(sign_in, "GET", "/api/events")
        if answer.status == 403 and answer.bearer_error == "insufficient_scope":
            can_read = False
        elif answer.ok and isinstance(answer.body, dict):
            events = answer.body.get("items", [])
        else:
            trouble = f"Your calendar could not be loaded (HTTP {answer.status})."
    return render_template(
        "dashboard.html",
        user=sign_in.user,
        granted=sorted(sign_in.scopes),
        signed_in_with=how_signed_in(sign_in.id_token),
        can_read=can_read,
        can_write=can_write,
        events=events,
        trouble=trouble,
        cannot_read=CANNOT_READ,
        cannot_write=CANNOT_WRITE,
        event_form=EventForm(),
        form=ActionForm(),
    )


@bp.post("/events")
def add_event() -> Response | str:
    sign_in = _signed_in_or_home()
    if isinstance(sign_in, Response):
        return sign_in
    form = EventForm()
    if "events:write" not in sign_in.scopes:
        flash(CANNOT_WRITE, "warning")
        return redirect(url_for("demo.dashboard"))
    if not form.validate_on_submit():
        for field, errors in form.errors.items():
            label = getattr(form, field).label.text if hasattr(form, field) else field
            flash(f"{label}: {' '.join(errors)}", "error")
        return redirect(url_for("demo.dashboard"))
    body = {
        "title": form.title.data,
        "description": form.description.data or None,
        "starts_at": _utc(form.starts_at.data),
        "ends_at": _utc(form.ends_at.data),
    }
    answer = api(sign_in, "POST", "/api/events", json=body)
    if answer.status == 201:
        flash(f"Added “{form.title.data}” to your calendar.", "success")
    elif answer.status == 403 and answer.bearer_error == "insufficient_scope":
        flash(CANNOT_WRITE, "warning")
    else:
        flash(_api_problem("The event could not be added", answer), "error")
    return redirect(url_for("demo.dashboard"))


@bp.post("/events/<int:event_id>/delete")
def delete_event(event_id: int) -> Response:
    sign_in = _signed_in_or_home()
    if isinstance(sign_in, Response):
        return sign_in
    if not ActionForm().validate_on_submit():
        abort(400)
    if "events:write" not in sign_in.scopes:
        flash(CANNOT_WRITE, "warning")
        return redirect(url_for("demo.dashboard"))
    answer = api(sign_in, "DELETE", f"/api/events/{event_id}")
    if answer.status in (204, 404):  # 404: already gone; the outcome the person wanted
        flash("The event was deleted.", "success")
    elif answer.status == 403 and answer.bearer_error == "insufficient_scope":
        flash(CANNOT_WRITE, "warning")
    else:
        flash(_api_problem("The event could not be deleted", answer), "error")
    return redirect(url_for("demo.dashboard"))


def _utc(value: datetime) -> str:
    return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _api_problem(what: str, answer: ApiAnswer) -> str:
    detail = ""
    if isinstance(answer.body, dict):
        fields = answer.body.get("fields")
        if isinstance(fields, dict) and fields:
            detail = ": " + "; ".join(f"{name} {fault}" for name, fault in fields.items())
        elif isinstance(answer.body.get("error_description"), str):
            detail = ": " + answer.body["error_description"]
    return f"{what} (HTTP {answer.status}){detail}."


@bp.post("/logout")
def logout() -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    sign_in = current_sign_in()
    id_token = None
    if sign_in is not None:
        id_token = sign_in.id_token
        # RFC 7009: revoking the refresh token ends the grant's tokens at the server.
        if sign_in.refresh_token:
            oauth.revoke(sign_in.refresh_token, "refresh_token")
        elif sign_in.access_token:
            oauth.revoke(sign_in.access_token, "access_token")
        db.session.delete(sign_in)
        db.session.commit()
    session.clear()
    if id_token is None or not oauth.metadata().get("end_session_endpoint"):
        flash("You are signed out.", "success")
        return redirect(url_for("demo.home"))
    # OpenID Connect RP-Initiated Logout: end the session at Authserver too, then come back.
    return oauth.provider().logout_redirect(
        post_logout_redirect_uri=current_app.config["POST_LOGOUT_REDIRECT_URI"],
        id_token_hint=id_token,
    )


@bp.post("/backchannel-logout")
def backchannel_logout() -> tuple[Response, int]:
    """OpenID Connect Back-Channel Logout 1.0 §2.5-2.8: Authserver says a person's session
    ended; their sign-ins here from that session end too (all of theirs without a ``sid``).
    A server-to-server POST, so no CSRF token (exempted in ``create_app``) and no cookie."""
    provider = oauth.provider()
    metadata = oauth.metadata()
    try:
        claims = backchannel.validate_logout_token(
            request.form.get("logout_token", ""),
            issuer=metadata.get("issuer", current_app.config["ISSUER"]),
            client_id=current_app.config["CLIENT_ID"],
            algorithms=list(metadata.get("id_token_signing_alg_values_supported") or ["RS256"]),
            jwks=lambda force: provider.fetch_jwk_set(force=force),
            now=_now(),
        )
    except backchannel.InvalidLogoutToken as refused:
        current_app.logger.warning("Back-channel logout refused: %s", refused)
        answer = jsonify(error="invalid_request", error_description="Invalid logout token.")
        answer.headers["Cache-Control"] = "no-store"
        return answer, 400
    query = select(SignIn).join(User).where(User.issuer == claims["iss"])
    if isinstance(claims.get("sub"), str):
        query = query.where(User.subject == claims["sub"])
    ended = 0
    for sign_in in db.session.scalars(query).all():
        if (
            isinstance(claims.get("sid"), str)
            and backchannel.sid_of(sign_in.id_token) != claims["sid"]
        ):
            continue
        db.session.delete(sign_in)
        ended += 1
    db.session.commit()
    current_app.logger.info("Back-channel logout ended %d sign-in(s)", ended)
    answer = jsonify({})
    answer.headers["Cache-Control"] = "no-store"
    return answer, 200
