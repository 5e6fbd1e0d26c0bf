"""The user's connected apps: what each was granted, with a way to take it back."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from ..extensions import db
from ..forms import ActionForm, LogoutForm
from ..scopes import describe, scope_list
from ..services import consents
from ..services.clients import find_client

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("/apps")
@login_required
def apps() -> str:
    connected = [
        (consent, describe(scope_list(consent.scope)))
        for consent in consents.connected_apps(current_user)
    ]
    return render_template(
        "account/apps.html", connected=connected, action_form=ActionForm(), logout_form=LogoutForm()
    )


@bp.post("/apps/<client_id>/revoke")
@login_required
def revoke(client_id: str) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    client = find_client(client_id)
    if client is None or not consents.revoke_consent(current_user, client):
        abort(404)
    db.session.commit()
    flash(f"{client.name} no longer has access to your account.", "success")
    return redirect(url_for("account.apps"))
