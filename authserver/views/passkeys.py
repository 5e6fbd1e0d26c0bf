"""Passkeys over HTTP: the JSON half of each WebAuthn ceremony (``static/passkeys.js`` is the
browser's half) and the forms that rename and remove them.

Every JSON endpoint is a POST carrying the CSRF token in ``X-CSRFToken`` (the form blueprints'
check). A ceremony's challenge lives in the signed session cookie of the browser that asked
for it, for one answer within ``policy.PASSKEY_CHALLENGE_LIFETIME``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from .. import clock, policy, throttling
from ..extensions import db
from ..forms import ActionForm, ConfirmPasswordForm
from ..services import ServiceError, accounts, passkeys
from .auth import safe_next, start_session
from .factors import (
    confirm_password_page,
    passed_second_step,
    pending_second_step,
    refused_password,
)

bp = Blueprint("passkeys", __name__)

_CHALLENGE = "passkey_challenge"


def relying_party() -> policy.RelyingParty:
    return policy.relying_party(current_app.config["ISSUER"], request.host_url)


def _rp_name() -> str:
    return relying_party().id


def _begin(purpose: str, ceremony: passkeys.Ceremony) -> Response:
    session[_CHALLENGE] = {
        "purpose": purpose,
        "challenge": ceremony.challenge,
        "since": int(clock.now().timestamp()),
    }
    response = current_app.response_class(ceremony.options_json, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def _challenge(purpose: str) -> str | None:
    """The challenge this browser was given for ``purpose``, taken (single use), if in time."""
    kept = session.pop(_CHALLENGE, None)
    if not isinstance(kept, dict) or kept.get("purpose") != purpose:
        return None
    since, challenge = kept.get("since"), kept.get("challenge")
    if not isinstance(since, int) or not isinstance(challenge, str):
        return None
    started = datetime.fromtimestamp(since, UTC)
    now = clock.now()
    if not (started <= now < started + policy.PASSKEY_CHALLENGE_LIFETIME):
        return None
    return challenge


def _credential() -> dict | None:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
        return None
    return body


def _refused(message: str, status: int = 400) -> tuple[Response, int]:
    return jsonify(error=message), status


_EXPIRED = "This passkey request expired or was already used. Try again."


# --- registering -------------------------------------------------------------------------------


@bp.post("/account/security/passkeys/options")
@login_required
def register_options() -> Response:
    ceremony = passkeys.registration_options(
        current_user._get_current_object(), relying_party(), _rp_name()
    )
    return _begin("register", ceremony)


@bp.post("/account/security/passkeys")
@login_required
def register_verify() -> Response | tuple[Response, int]:
    body = _credential()
    challenge = _challenge("register")
    if body is None:
        return _refused("The browser's answer was not understood.")
    if challenge is None:
        return _refused(_EXPIRED)
    try:
        passkey, first = passkeys.register(
            current_user._get_current_object(),
            body["credential"],
            str(body.get("name", "")),
            challenge,
            relying_party(),
            request.remote_addr,
        )
    except ServiceError as error:
        db.session.rollback()
        return _refused(error.message)
    db.session.commit()
    message = f"Passkey “{passkey.name}” added."
    if first:
        message += " Make recovery codes below, in case you lose it."
    flash(message, "success")
    return jsonify(redirect=url_for("security.security"))


@bp.post("/account/security/passkeys/<int:passkey_id>/rename")
@login_required
def rename(passkey_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        found = passkeys.rename(
            current_user._get_current_object(), passkey_id, request.form.get("name", "")
        )
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("security.security"))
    if not found:
        abort(404)
    db.session.commit()
    flash("Passkey renamed.", "success")
    return redirect(url_for("security.security"))


@bp.route("/account/security/passkeys/<int:passkey_id>/remove", methods=["GET", "POST"])
@login_required
@throttling.account_password_attempts
def remove(passkey_id: int) -> Response | tuple[str, int]:
    user = current_user._get_current_object()
    passkey = passkeys.owned(user, passkey_id)
    if passkey is None:
        abort(404)
    form = ConfirmPasswordForm()
    if form.validate_on_submit():
        try:
            removed = passkeys.remove(
                user, passkey_id, form.password.data or "", request.remote_addr
            )
        except accounts.WrongPassword:
            refused_password(form)
        else:
            if not removed:
                abort(404)
            db.session.commit()
            flash("Passkey removed.", "success")
            return redirect(url_for("security.security"))
    return confirm_password_page(
        form,
        title=f"Remove passkey “{passkey.name}”",
        explanation="It will no longer sign you in, nor count as your second factor.",
        button="Remove passkey",
        action=url_for("passkeys.remove", passkey_id=passkey_id),
    )


# --- signing in --------------------------------------------------------------------------------


@bp.post("/login/passkey/options")
def login_options() -> Response:
    return _begin("login", passkeys.authentication_options(relying_party()))


@bp.post("/login/passkey")
@throttling.login_attempts
def login_verify() -> Response | tuple[Response, int]:
    """A sign-in with a passkey alone (a discoverable credential, user-verified)."""
    next_url = safe_next(request.args.get("next"), url_for("account.apps"))
    body = _credential()
    challenge = _challenge("login")
    if body is None:
        return _refused("The browser's answer was not understood.")
    if challenge is None:
        return _refused(_EXPIRED)
    signed_in = passkeys.sign_in(
        body["credential"], challenge, relying_party(), address=request.remote_addr
    )
    if signed_in is None:
        throttling.login_failed()
        db.session.commit()  # the audit record
        return _refused("That passkey did not sign you in.", 401)
    start_session(signed_in.user, next_url, amr=signed_in.methods)
    return jsonify(redirect=next_url)


@bp.post("/login/second-factor/passkey/options")
def second_step_options() -> Response | tuple[Response, int]:
    step = pending_second_step()
    if step is None:
        return _refused(_EXPIRED)
    return _begin("second", passkeys.authentication_options(relying_party(), step.user))


@bp.post("/login/second-factor/passkey")
def second_step_verify() -> Response | tuple[Response, int]:
    next_url = safe_next(request.args.get("next"), url_for("account.apps"))
    step = pending_second_step()
    body = _credential()
    challenge = _challenge("second")
    if step is None or challenge is None:
        return _refused(_EXPIRED)
    if body is None:
        return _refused("The browser's answer was not understood.")
    signed_in = passkeys.sign_in(
        body["credential"], challenge, relying_party(), step.user, request.remote_addr
    )
    if signed_in is None:
        db.session.commit()  # the audit record
        return _refused("That passkey is not one of yours, or did not answer.", 401)
    passed_second_step(step, next_url, *signed_in.methods)
    return jsonify(redirect=next_url)
