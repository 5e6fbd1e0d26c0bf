"""The user's connected apps: what each was granted, with a way to take it back; their login
sessions and their own recent activity."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

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
}


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
    )


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
    flash(f"{client.name} no longer has access to your account.", "success")
    return redirect(url_for("account.apps"))


@bp.post("/apps/<client_id>/revoke-scope")
@login_required
def revoke_scope(client_id: str) -> Response:
    """Take one permission back; the app's tokens that carry it stop working at once."""
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
    flash(f"{client.name} no longer has this permission: {description}.", "success")
    return redirect(url_for("account.apps"))
