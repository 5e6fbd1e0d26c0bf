"""/account/security: the person's sign-in methods, password, address, recent security events,
and deleting the account. Second factors slot in from ``account/_second_factors.html``."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user
from werkzeug.wrappers import Response

from .. import throttling
from ..extensions import db
from ..forms import ActionForm, ChangeEmailForm, ChangePasswordForm, DeleteAccountForm, Form
from ..services import ServiceError, accounts, audit
from .account import EVENT_TEXT

bp = Blueprint("security", __name__, url_prefix="/account")


def _page(status: int = 200, **forms: Form) -> tuple[str, int]:
    user = current_user._get_current_object()
    return render_template(
        "account/security.html",
        password_form=forms.get("password") or ChangePasswordForm(formdata=None),
        email_form=forms.get("email") or ChangeEmailForm(formdata=None),
        delete_form=forms.get("delete") or DeleteAccountForm(formdata=None),
        action_form=ActionForm(formdata=None),
        events=audit.events_about(user, limit=20, events=audit.SECURITY_EVENTS),
        event_text=EVENT_TEXT,
    ), status


@bp.get("/security")
@login_required
def security() -> tuple[str, int]:
    return _page()


#: Each form's field for the current password (where a wrong one is said).
PASSWORD_FIELDS = {
    "password": "current_password",
    "email": "email_password",
    "delete": "delete_password",
}


def _refused(form: Form, error: ServiceError, name: str) -> tuple[str, int]:
    db.session.rollback()
    field_name = error.field
    if isinstance(error, accounts.WrongPassword):
        throttling.account_password_failed()
        field_name = PASSWORD_FIELDS[name]
    field = getattr(form, field_name or "", None)
    (field.errors if field is not None else form.form_errors).append(error.message)
    return _page(400, **{name: form})


@bp.post("/security/password")
@login_required
@throttling.account_password_attempts
def change_password() -> Response | tuple[str, int]:
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _page(400, password=form)
    try:
        ended = accounts.change_password(
            current_user._get_current_object(),
            form.current_password.data or "",
            form.password.data or "",
            keep_sid=session.get("sid"),
            address=request.remote_addr,
        )
    except ServiceError as error:
        return _refused(form, error, "password")
    db.session.commit()
    others = f" {ended} other session{'s' if ended != 1 else ''} signed out." if ended else ""
    flash(f"Your password is changed.{others}", "success")
    return redirect(url_for("security.security"))


@bp.post("/security/email")
@login_required
@throttling.account_password_attempts
def change_email() -> Response | tuple[str, int]:
    form = ChangeEmailForm()
    if not form.validate_on_submit():
        return _page(400, email=form)
    try:
        accounts.request_email_change(
            current_user._get_current_object(),
            form.email_password.data or "",
            form.email.data or "",
            address=request.remote_addr,
        )
    except ServiceError as error:
        return _refused(form, error, "email")
    db.session.commit()
    flash(
        f"We sent a link to {form.email.data}: your account moves to that address when you "
        "follow it. Until then it keeps this one.",
        "success",
    )
    return redirect(url_for("security.security"))


@bp.post("/security/verify")
@login_required
def resend_verification() -> Response:
    user = current_user._get_current_object()
    if ActionForm().validate_on_submit() and user.email_verified_at is None:
        accounts.send_verification(user)
        db.session.commit()
        flash(f"We sent a new link to {user.email}.", "success")
    return redirect(url_for("security.security"))


@bp.post("/delete")
@login_required
@throttling.account_password_attempts
def delete_account() -> Response | tuple[str, int]:
    form = DeleteAccountForm()
    if not form.validate_on_submit():
        return _page(400, delete=form)
    try:
        accounts.delete_account(
            current_user._get_current_object(),
            form.delete_password.data or "",
            address=request.remote_addr,
        )
    except ServiceError as error:
        return _refused(form, error, "delete")
    db.session.commit()
    logout_user()
    session.clear()
    flash("Your account is deleted. A mail confirms it.", "info")
    return redirect(url_for("auth.index"))
