"""The developer console: a developer's own clients, and nobody else's."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from ..extensions import db
from ..forms import ActionForm, ClientForm
from ..models import Client
from ..scopes import describe, scope_list
from ..services import ServiceError, clients

bp = Blueprint("console", __name__, url_prefix="/console")


@bp.before_request
@login_required
def _require_login() -> None:
    return None


def _own_client_or_404(client_id: str) -> Client:
    client = clients.owned_client(current_user, client_id)
    if client is None:
        abort(404)
    return client


def _field_error(form: ClientForm, error: ServiceError) -> None:
    field = getattr(form, error.field or "name", form.name)
    field.errors = [*field.errors, error.message]


@bp.get("/")
def index() -> str:
    return render_template("console/index.html", clients=clients.clients_of(current_user))


@bp.route("/clients/new", methods=["GET", "POST"])
def new_client() -> Response | str | tuple[str, int]:
    form = ClientForm()
    if request.method == "GET":
        form.scopes.data = ["openid", "profile", "email"]
        form.grant_types.data = ["authorization_code", "refresh_token"]
    if form.validate_on_submit():
        try:
            client, secret = clients.create_client(
                name=form.name.data,
                redirect_uris=(form.redirect_uris.data or "").splitlines(),
                scope=" ".join(form.scopes.data or []),
                grant_types=form.grant_types.data or [],
                public=form.client_type.data == "public",
                owner=current_user,
                post_logout_redirect_uris=(form.post_logout_redirect_uris.data or "").splitlines(),
            )
        except ServiceError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            # Rendered, not redirected: the secret is never stored anywhere it could be read back.
            return render_template("console/created.html", client=client, secret=secret)
    status = 400 if request.method == "POST" else 200
    return render_template("console/edit.html", form=form, client=None), status


@bp.get("/clients/<client_id>")
def show_client(client_id: str) -> str:
    client = _own_client_or_404(client_id)
    return render_template(
        "console/show.html",
        client=client,
        scopes=describe(scope_list(client.scope)),
        action_form=ActionForm(),
    )


@bp.route("/clients/<client_id>/edit", methods=["GET", "POST"])
def edit_client(client_id: str) -> Response | str | tuple[str, int]:
    client = _own_client_or_404(client_id)
    form = ClientForm()
    if request.method == "GET":
        form.name.data = client.name
        form.redirect_uris.data = "\n".join(client.redirect_uris)
        form.post_logout_redirect_uris.data = "\n".join(client.post_logout_redirect_uris)
        form.scopes.data = scope_list(client.scope)
        form.grant_types.data = list(client.grant_types)
        form.client_type.data = "public" if client.is_public else "confidential"
    if form.validate_on_submit():
        try:
            clients.update_client(
                client,
                name=form.name.data,
                redirect_uris=(form.redirect_uris.data or "").splitlines(),
                scope=" ".join(form.scopes.data or []),
                grant_types=form.grant_types.data or [],
                post_logout_redirect_uris=(form.post_logout_redirect_uris.data or "").splitlines(),
            )
        except ServiceError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            flash("Changes saved.", "success")
            return redirect(url_for("console.show_client", client_id=client.client_id))
    status = 400 if request.method == "POST" else 200
    return render_template("console/edit.html", form=form, client=client), status


@bp.post("/clients/<client_id>/rotate-secret")
def rotate_secret(client_id: str) -> Response | str:
    client = _own_client_or_404(client_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        secret = clients.rotate_secret(client)
        db.session.commit()
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("console.show_client", client_id=client.client_id))
    return render_template("console/created.html", client=client, secret=secret, rotated=True)


@bp.post("/clients/<client_id>/delete")
def delete_client(client_id: str) -> Response:
    client = _own_client_or_404(client_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    name = client.name
    clients.delete_client(client)
    db.session.commit()
    flash(f"{name} was deleted, and every token it held was revoked.", "success")
    return redirect(url_for("console.index"))
