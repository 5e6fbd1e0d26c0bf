"""The user's connected apps: what each was granted, with a way to take it back; their login
sessions and their own recent activity."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from .. import policy
from ..extensions import db
from ..forms import ActionForm, LogoutForm
from ..scopes import CATALOGUE, describe, scope_list
from ..services import audit, consents, sessions
from ..services.clients import find_client
from .current import current_login

bp = Blueprint("account", __name__, url_prefix="/account")

#: The person's own record, in their words.
EVENT_TEXT = {
    "login.succeeded": "Signed in",
    "login.failed": "Failed sign-in attempt (wrong password)",
    "signup.succeeded": "Account created",
    "signup.duplicate": "Someone tried to sign up with your address",
    "consent.granted": "Allowed an app",
    "consent.changed": "Changed what an app may do",
    "consent.revoked": "Removed an app's access",
    "consent.scope_revoked": "Took a permission back from an app",
    "sessions.ended": "Signed out everywhere",
    "password.changed": "Password changed",
    "password.reset": "Password reset with a mailed link",
    "password.reset_requested": "A password reset link was asked for",
    "email.verified": "Email address verified",
    "email.change_requested": "A new email address was asked for",
    "email.changed": "Email address changed",
    "mfa.totp_enrolled": "Set up an authenticator app",
    "mfa.totp_removed": "Removed the authenticator app",
    "mfa.totp_confirm_failed": "Wrong code while setting up an authenticator app",
    "mfa.passed": "Passed the second step",
    "mfa.failed": "Wrong second-step code",
    "mfa.recovery_codes_renewed": "Made new recovery codes",
    "mfa.reset": "The operator removed your second factors and passkeys",
    "login.stepped_up": "Confirmed a sign-in with a second factor",
    "passkey.added": "Added a passkey",
    "passkey.removed": "Removed a passkey",
    "passkey.used": "Used a passkey",
    "passkey.failed": "A passkey sign-in failed",
    "passkey.register_failed": "Adding a passkey failed",
    "passkey.clone_suspected": "A passkey answered like a copy of itself: it may have been cloned",
}


def duration_in_words(seconds: int) -> str:
    """``600`` as "10 minutes", ``5400`` as "1 hour 30 minutes", ``45`` as "45 seconds"."""
    parts = []
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts) or "0 seconds"


def access_token_lifetime() -> str:
    """How long an access token this server issued stays valid, in words: what an API that
    checks tokens itself (a JWT's signature and expiry) may go on accepting after a revocation,
    which reaches only the refresh tokens and this server's own endpoints at once."""
    return duration_in_words(policy.lifetimes(current_app.config).access_token)


def _held_tokens() -> str:
    return (
        "An access token it already holds may still work with services that check tokens "
        f"themselves until it expires, within {access_token_lifetime()}."
    )


@bp.get("/apps")
@login_required
def apps() -> str:
    user = current_user._get_current_object()
    connected = [
        (consent, describe(scope_list(consent.scope))) for consent in consents.connected_apps(user)
    ]
    events = audit.events_about(user, limit=20)
    names = {}
    for event in events:
        if event.client_id and event.client_id not in names:
            client = find_client(event.client_id)
            names[event.client_id] = client.name if client is not None else "a deleted app"
    login = current_login()
    return render_template(
        "account/apps.html",
        connected=connected,
        action_form=ActionForm(),
        logout_form=LogoutForm(),
        logins=[
            (each, sessions.describe_user_agent(each.user_agent))
            for each in sessions.sessions_of(user)
        ],
        this_sid=login.sid if login is not None else None,
        events=events,
        event_text=EVENT_TEXT,
        client_names=names,
        catalogue=CATALOGUE,
        access_token_lifetime=access_token_lifetime(),
    )


@bp.post("/apps/revoke")
@login_required
def revoke_named() -> Response:
    """``revoke``, the client named in the form: a metadata document's client_id is a URL,
    whose slashes a path segment cannot carry."""
    return revoke(request.form.get("client_id", ""))


@bp.post("/apps/revoke-scope")
@login_required
def revoke_scope_named() -> Response:
    """``revoke_scope``, the client named in the form (see ``revoke_named``)."""
    return revoke_scope(request.form.get("client_id", ""))


@bp.post("/apps/<client_id>/revoke")
@login_required
def revoke(client_id: str) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    client = find_client(client_id)
    if client is None or not consents.revoke_consent(
        current_user, client, address=request.remote_addr
    ):
        abort(404)
    db.session.commit()
    flash(f"{client.name} no longer has access to your account. {_held_tokens()}", "success")
    return redirect(url_for("account.apps"))


@bp.post("/apps/<client_id>/revoke-scope")
@login_required
def revoke_scope(client_id: str) -> Response:
    """Take one permission back: the app's refresh tokens no longer carry it, and its access
    tokens that do are revoked (refused here at once; by APIs checking JWTs, at their expiry)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    scope = request.form.get("scope", "")
    client = find_client(client_id)
    if client is None or scope not in CATALOGUE:
        abort(404)
    if not consents.revoke_scope(current_user, client, scope, address=request.remote_addr):
        abort(404)
    db.session.commit()
    description = CATALOGUE[scope].description
    flash(
        f"{client.name} no longer has this permission: {description}. {_held_tokens()}", "success"
    )
    return redirect(url_for("account.apps"))
