"""The device page (RFC 8628 §3.3): a signed-in person types (or confirms) the user code a
device shows, then answers the usual consent page. The code is bound to the person who typed
it first: nobody else's session can see or answer it afterwards."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask_login import current_user, login_required

from .. import policy, throttling
from ..extensions import db
from ..forms import DeviceCodeForm
from ..scopes import join_scopes, scope_list
from ..services import consents, devices, locks, sessions
from .authorize import consent_page, named_resources
from .current import current_login
from .responses import error_page

bp = Blueprint("device", __name__)

#: The same answer for every code that is not (or no longer) waiting for this person: a
#: guesser learns nothing from it.
NOT_WAITING = (
    "That code is not valid, has expired or was already used. Check the code your device shows."
)


@bp.route("/device", methods=["GET", "POST"])
@login_required
@throttling.device_code_attempts
def device() -> str | tuple[str, int]:
    form = DeviceCodeForm()
    if request.method == "GET":
        form.user_code.data = request.args.get("user_code", "")
        return render_template("oauth2/device.html", form=form)
    if not form.validate_on_submit():
        return render_template("oauth2/device.html", form=form), 400
    if "decision" in request.form:
        return answer(form.user_code.data)
    found = devices.enter_user_code(form.user_code.data, current_user)
    if found is None:
        throttling.device_code_failed()
        db.session.rollback()
        form.user_code.errors = [NOT_WAITING]
        return render_template("oauth2/device.html", form=form), 400
    db.session.commit()  # bound to this person from now on, whatever they answer
    return consent_page(
        found.client,
        scope_list(found.scope),
        return_host=None,
        resources=found.resources,
        action=url_for("device.device"),
        hidden=[
            (
                "user_code",
                policy.format_user_code(policy.normalize_user_code(form.user_code.data) or ""),
            )
        ],
    )


def answer(typed: str | None) -> str | tuple[str, int]:
    """The consent form posted back: allow what was ticked, or deny; once, and only by the
    person the code is bound to."""
    found = devices.bound_to(typed, current_user)
    if found is None:
        throttling.device_code_failed()
        return error_page("Code not waiting for you", NOT_WAITING)
    login = current_login()
    locked = locks.lock_for_issuance(current_user.id, found.client_id)
    if login is None or not locked.may_issue or not sessions.still_open(login):
        db.session.rollback()
        return error_page("Not allowed", "Your session or the application is no longer active.")
    granted_scope = None
    if request.form.get("decision") == "allow":
        requested = scope_list(found.scope)
        granted = policy.granted_scopes(requested, request.form.getlist("scope"))
        consents.record_consent(
            current_user,
            found.client,
            requested,
            granted,
            address=request.remote_addr,
            resources=named_resources(found.resources),
        )
        granted_scope = join_scopes(granted) or None
    if not devices.decide(found, current_user, granted_scope, login.auth_time, login.sid):
        db.session.rollback()
        return error_page("Already answered", NOT_WAITING)
    db.session.commit()
    return render_template(
        "oauth2/device_done.html", client=found.client, allowed=granted_scope is not None
    )
