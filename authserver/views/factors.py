"""Second factors: the login's second step (and a step up for ``acr_values``), and the
person's own authenticator app and recovery codes under ``/account/security``.

The second step is remembered in the signed session cookie between the password and the code:
who passed the password, when (``policy.SECOND_STEP_LIFETIME``) and, for a step up, in which
login session. The login's ``next`` (and what ``reauthentication`` remembers for it) rides
along, so ``prompt=login``, ``max_age`` and the authorization request survive the extra page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import segno
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.wrappers import Response

from .. import clock, policy, throttling
from ..extensions import db
from ..forms import ActionForm, CodeForm, ConfirmPasswordForm
from ..models import Passkey, User, UserSession
from ..services import accounts, audit, factors, sessions
from .auth import SECOND_STEP, safe_next, start_session
from .current import current_login

bp = Blueprint("factors", __name__)

_PENDING = SECOND_STEP


@dataclass
class SecondStep:
    user: User
    step_up: UserSession | None  # the login session a step up adds the factor to


def pending_second_step() -> SecondStep | None:
    """The second step this browser is in, if any and still in time."""
    pending = session.get(_PENDING)
    if not isinstance(pending, dict):
        return None
    user_id, since, sid = pending.get("user"), pending.get("since"), pending.get("sid")
    if not isinstance(user_id, int) or not isinstance(since, int):
        return None
    if policy.second_step_expired(datetime.fromtimestamp(since, UTC), clock.now()):
        return None
    user = db.session.get(User, user_id)
    if user is None or user.disabled_at is not None:
        return None
    if sid is None:
        return SecondStep(user, None)
    login = current_login()
    if login is None or login.sid != sid or login.user_id != user.id:
        return None  # logged out, or someone else, since the step up began
    return SecondStep(user, login)


def _pending_account() -> str:
    """The throttling key of the code form: the account whose code is being guessed."""
    pending = session.get(_PENDING)
    user_id = pending.get("user") if isinstance(pending, dict) else None
    if isinstance(user_id, int):
        return f"user:{user_id}"
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return "nobody"


@bp.route("/login/second-factor", methods=["GET", "POST"])
@throttling.second_factor_attempts(_pending_account)
def second_step() -> Response | tuple[str, int]:
    next_url = safe_next(request.args.get("next"), url_for("account.apps"))
    step = pending_second_step()
    if step is None:
        session.pop(_PENDING, None)
        flash("That took too long, or the sign-in was not started. Please log in again.", "info")
        return redirect(url_for("auth.login", next=next_url))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        accepted = factors.check_code(step.user, form.code.data or "", request.remote_addr)
        if accepted is not None:
            return passed_second_step(step, next_url, accepted.method)
        throttling.second_factor_failed()
        db.session.commit()  # the audit record of the failure
        error = "That code is not right, or was already used. Try the current one."
    elif request.method == "POST" and not form.errors.get("csrf_token"):
        error = "Enter the code from your authenticator app, or a recovery code."
    status = 400 if request.method == "POST" else 200
    return render_template(
        "auth/second_factor.html",
        form=form,
        next=next_url,
        error=error,
        has_totp=factors.has_totp(step.user),
        has_passkeys=bool(factors.passkeys_of(step.user)),
        step_up=step.step_up is not None,
    ), status


def passed_second_step(step: SecondStep, next_url: str, *methods: str) -> Response:
    """The second factor passed: a new session (after a password), or the same one stepped up;
    committed."""
    session.pop(_PENDING, None)
    if step.step_up is not None:
        sessions.add_methods(step.step_up, *methods)
        audit.record("login.stepped_up", user=step.user, address=request.remote_addr)
        db.session.commit()
    else:
        start_session(step.user, next_url, amr=policy.amr_with(["pwd"], *methods))
    return redirect(next_url)


# --- the person's own factors ------------------------------------------------------------------


@dataclass
class FactorsSummary:
    """What ``account/_second_factors.html`` shows."""

    totp: bool
    recovery_codes_left: int
    passkeys: list[Passkey] = field(default_factory=list)


@bp.app_context_processor
def second_factors_context() -> dict:
    """``second_factors()`` for the section included in ``/account/security`` (whichever view
    renders that page, the section finds its own data)."""

    def second_factors() -> FactorsSummary | None:
        if not current_user.is_authenticated:
            return None
        user = current_user._get_current_object()
        return FactorsSummary(
            totp=factors.has_totp(user),
            recovery_codes_left=factors.recovery_codes_left(user),
            passkeys=factors.passkeys_of(user),
        )

    return {"second_factors": second_factors, "factor_action_form": ActionForm}


def qr_code_svg(text: str) -> Markup:
    """``text`` as an inline SVG QR code (no image request, nothing from elsewhere)."""
    svg = segno.make(text, error="m").svg_inline(
        scale=4, dark="#000", light="#fff", svgclass="qr", lineclass=None, omitsize=False
    )
    labelled = svg.replace(
        "<svg ", '<svg role="img" aria-label="QR code of the setup link shown below" ', 1
    )
    return Markup(labelled)  # noqa: S704 - segno's own SVG of our URI, nothing a person typed


@bp.route("/account/security/totp", methods=["GET", "POST"])
@login_required
@throttling.second_factor_attempts(_pending_account)
def totp() -> Response | str | tuple[str, int]:
    """Set up an authenticator app: its secret as a QR code and as text, then one code."""
    user = current_user._get_current_object()
    if factors.has_totp(user):
        flash("Your authenticator app is already set up.", "info")
        return redirect(url_for("security.security"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        codes = factors.confirm_totp(user, form.code.data or "", request.remote_addr)
        if codes is not None:
            db.session.commit()
            return show_recovery_codes(codes, "Your authenticator app is set up")
        throttling.second_factor_failed()
        db.session.commit()
        error = "That code is not right. Check the app shows this account, and try again."
    secret = factors.pending_secret(user)
    if secret is None:
        secret = factors.start_totp(user)
        db.session.commit()
    uri = factors.provisioning_uri(user, secret)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "account/totp.html",
        form=form,
        error=error,
        uri=uri,
        secret=secret,
        qr_svg=qr_code_svg(uri),
    ), status


def show_recovery_codes(codes: list[str], title: str) -> str:
    return render_template("account/recovery_codes.html", codes=codes, title=title)


def confirm_password_page(
    form: ConfirmPasswordForm,
    *,
    title: str,
    explanation: str,
    button: str,
    action: str,
    danger: bool = True,
) -> tuple[str, int]:
    """The page that asks for the current password before a change that weakens the account
    (400 once a POST was refused)."""
    return render_template(
        "account/confirm_password.html",
        form=form,
        title=title,
        explanation=explanation,
        button=button,
        button_class="danger" if danger else "primary",
        action=action,
    ), (400 if request.method == "POST" else 200)


def refused_password(form: ConfirmPasswordForm) -> None:
    """A wrong current password: nothing changes, the attempt stays counted
    (``throttling.account_password_attempts``), the field says so."""
    db.session.rollback()
    throttling.account_password_failed()
    form.password.errors = [*form.password.errors, accounts.WrongPassword().message]


@bp.route("/account/security/totp/remove", methods=["GET", "POST"])
@login_required
@throttling.account_password_attempts
def remove_totp() -> Response | tuple[str, int]:
    user = current_user._get_current_object()
    if not factors.has_totp(user):  # removed already (a double submit, another tab)
        flash("No authenticator app is set up.", "info")
        return redirect(url_for("security.security"))
    form = ConfirmPasswordForm()
    if form.validate_on_submit():
        try:
            factors.remove_totp(user, form.password.data or "", request.remote_addr)
        except accounts.WrongPassword:
            refused_password(form)
        else:
            db.session.commit()
            flash("Your authenticator app was removed.", "success")
            return redirect(url_for("security.security"))
    return confirm_password_page(
        form,
        title="Remove your authenticator app",
        explanation="Signing in will no longer ask for a code from your app"
        + ("" if factors.passkeys_of(user) else ", and your recovery codes stop working")
        + ".",
        button="Remove authenticator app",
        action=url_for("factors.remove_totp"),
    )


@bp.route("/account/security/recovery-codes", methods=["GET", "POST"])
@login_required
@throttling.account_password_attempts
def recovery_codes() -> Response | str | tuple[str, int]:
    """Ten new recovery codes (the old ones stop working), shown once."""
    user = current_user._get_current_object()
    if not factors.has_second_factor(user):
        flash("Set up an authenticator app or a passkey first.", "info")
        return redirect(url_for("security.security"))
    form = ConfirmPasswordForm()
    if form.validate_on_submit():
        try:
            codes = factors.regenerate_recovery_codes(
                user, form.password.data or "", request.remote_addr
            )
        except accounts.WrongPassword:
            refused_password(form)
        else:
            if codes is not None:
                db.session.commit()
                return show_recovery_codes(codes, "New recovery codes")
    return confirm_password_page(
        form,
        title="Make new recovery codes",
        explanation="You get ten new codes; the ones you have now stop working.",
        button="Make new recovery codes",
        action=url_for("factors.recovery_codes"),
        danger=False,
    )
