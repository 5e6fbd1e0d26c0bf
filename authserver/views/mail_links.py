"""The pages mailed links lead to, and the form that mails one: verify an address (which
signs the person in), forgot password, choose a new password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import throttling
from ..extensions import db
from ..forms import ForgotPasswordForm, ResetPasswordForm
from ..services import ServiceError, accounts, factors
from ..services.links import LinkState
from .auth import safe_next, start_session
from .current import current_login

bp = Blueprint("links", __name__)

#: What a refused link's page says, by why it was refused.
REFUSED = {
    LinkState.USED: "This link was used already: each works once.",
    LinkState.EXPIRED: "This link has expired.",
    LinkState.UNKNOWN: "This link is not valid. Check that you opened the whole link from the "
    "mail.",
}


def refused_link(state: LinkState, purpose: str) -> tuple[str, int]:
    """A clear page, 400, with the way on (a new mail, or logging in)."""
    return render_template(
        "auth/link_refused.html",
        message=REFUSED.get(state, REFUSED[LinkState.UNKNOWN]),
        purpose=purpose,
    ), 400


@bp.get("/signup/verify")
def verify() -> Response | tuple[str, int]:
    """A verification (or new-address) link: the address is verified and the person signed in
    (unless they have a second factor: then they log in with it; ``factors.mailed_link_signs_in``).
    A browser already signed in as the person keeps its session, and the factors it passed."""
    next_url = safe_next(request.args.get("next"), url_for("account.apps"))
    try:
        followed = accounts.follow_address_link(request.args.get("token"), request.remote_addr)
    except accounts.LinkRefused as refused:
        db.session.rollback()
        return refused_link(refused.state, "verify")
    if followed.purpose == "change_email":
        done = f"Your account now uses {followed.user.email}."
    else:
        done = "Thanks: your email address is verified."
    login = current_login()
    if login is not None and login.user_id == followed.user.id:
        db.session.commit()
    elif factors.mailed_link_signs_in(followed.user):
        start_session(followed.user, next_url)  # commits the verification with the new session
    else:
        db.session.commit()
        flash(f"{done} Log in to go on.", "success")
        return redirect(url_for("auth.login", next=next_url))
    flash(done, "success")
    return redirect(next_url)


@bp.route("/password/forgot", methods=["GET", "POST"])
@throttling.password_resets
def forgot() -> str | tuple[str, int]:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data or "", request.remote_addr)
        db.session.commit()
        # The same page for every address: whether it has an account is not ours to tell.
        return render_template("auth/forgot_sent.html", email=form.email.data)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/password/reset", methods=["GET", "POST"])
@throttling.link_forms
def reset() -> Response | str | tuple[str, int]:
    form = ResetPasswordForm()
    if request.method == "GET":
        form.token.data = request.args.get("token", "")
        state = accounts.reset_link_state(form.token.data)
        if state is not LinkState.USABLE:
            return refused_link(state, "reset")
        return render_template("auth/reset.html", form=form)
    if form.validate_on_submit():
        try:
            accounts.reset_password(form.token.data, form.password.data or "", request.remote_addr)
        except accounts.LinkRefused as refused:
            db.session.rollback()
            return refused_link(refused.state, "reset")
        except ServiceError as error:
            db.session.rollback()
            form.password.errors.append(error.message)
        else:
            db.session.commit()
            flash(
                "Your password is changed. Every session was signed out and apps that stayed "
                "signed in for you were disconnected: log in with your new password.",
                "success",
            )
            return redirect(url_for("auth.login"))
    elif form.errors.get("token"):
        return refused_link(LinkState.UNKNOWN, "reset")
    return render_template("auth/reset.html", form=form), 400
