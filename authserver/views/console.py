"""The developer console: a developer's own clients, and nobody else's."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from .. import policy
from ..extensions import db
from ..forms import ActionForm, ClientForm
from ..models import Client
from ..scopes import describe, scope_list
from ..services import ServiceError, audit, clients

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
            public = form.client_type.data == "public"
            client, secret = clients.create_client(
                **_key_fields(form, public),
                name=form.name.data,
                redirect_uris=(form.redirect_uris.data or "").splitlines(),
                scope=" ".join(form.scopes.data or []),
                grant_types=form.grant_types.data or [],
                public=public,
                owner=current_user,
                post_logout_redirect_uris=(form.post_logout_redirect_uris.data or "").splitlines(),
                backchannel_logout_uri=form.backchannel_logout_uri.data,
                dpop_bound_access_tokens=bool(form.dpop_bound_access_tokens.data),
                address=request.remote_addr,
            )
        except ServiceError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            # Rendered, not redirected: the secret is never stored anywhere it could be read back.
            return render_template("console/created.html", client=client, secret=secret)
    status = 400 if request.method == "POST" else 200
    return render_template("console/edit.html", form=form, client=None), status


def _key_fields(form: ClientForm, public: bool) -> dict:
    """How the new client authenticates (RFC 7591 §2 names): a public client with none; a
    private_key_jwt client with the keys it pasted or their URL."""
    if public:
        return {}
    method = form.auth_method.data or "client_secret_basic"
    fields: dict = {"auth_method": method}
    if method == "private_key_jwt":
        text = (form.jwks.data or "").strip()
        if text:
            try:
                fields["jwks"] = json.loads(text)
            except ValueError:
                raise ServiceError("The public keys are not valid JSON.", "jwks") from None
        fields["jwks_uri"] = (form.jwks_uri.data or "").strip() or None
    return fields


def discovery_url() -> str:
    return current_app.config["ISSUER"] + "/.well-known/openid-configuration"


def authorization_urls(client: Client) -> list[tuple[str, str]]:
    """(redirect URI, a ready authorization request for it) for each registered redirect URI."""
    endpoint = current_app.config["ISSUER"] + url_for("authorize.authorize")
    ready = []
    for uri in client.redirect_uris:
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": uri,
            "scope": client.scope,
            "state": "STATE",
        }
        if client.is_public:
            query.update(code_challenge="CODE_CHALLENGE", code_challenge_method="S256")
        ready.append((uri, endpoint + "?" + urlencode(query)))
    return ready


@bp.get("/clients/<client_id>")
def show_client(client_id: str) -> str:
    client = _own_client_or_404(client_id)
    return render_template(
        "console/show.html",
        client=client,
        scopes=describe(scope_list(client.scope)),
        discovery_url=discovery_url(),
        authorization_urls=authorization_urls(client),
        previous_secret_expires=clients.previous_secret_expiry(client),
        refusals=audit.refusals_of(client.client_id),
        refresh_tokens_unreachable=policy.refresh_tokens_unreachable(
            client.grant_types, client.scope
        ),
        pkce_hint=policy.pkce_hint_due(
            client.is_public,
            audit.recent_code_exchanges_used_pkce(client.client_id, policy.PKCE_HINT_WINDOW),
        ),
        refusal_window_minutes=int(audit.REFUSAL_WINDOW.total_seconds() // 60),
        anonymous_cap=audit.ANONYMOUS_REFUSALS_PER_WINDOW,
    )


@bp.route("/clients/<client_id>/edit", methods=["GET", "POST"])
def edit_client(client_id: str) -> Response | str | tuple[str, int]:
    client = _own_client_or_404(client_id)
    form = ClientForm()
    if request.method == "GET":
        form.name.data = client.name
        form.redirect_uris.data = "\n".join(client.redirect_uris)
        form.post_logout_redirect_uris.data = "\n".join(client.post_logout_redirect_uris)
        form.backchannel_logout_uri.data = client.backchannel_logout_uri or ""
        form.scopes.data = scope_list(client.scope)
        form.grant_types.data = list(client.grant_types)
        form.dpop_bound_access_tokens.data = client.dpop_bound_access_tokens
        form.client_type.data = "public" if client.is_public else "confidential"
    if form.validate_on_submit():
        was_verified = client.verified
        try:
            clients.update_client(
                client,
                name=form.name.data,
                redirect_uris=(form.redirect_uris.data or "").splitlines(),
                scope=" ".join(form.scopes.data or []),
                grant_types=form.grant_types.data or [],
                post_logout_redirect_uris=(form.post_logout_redirect_uris.data or "").splitlines(),
                address=request.remote_addr,
                dpop_bound_access_tokens=bool(form.dpop_bound_access_tokens.data),
                # sid is in every logout token, so "session required" keeps what it was.
                backchannel=(
                    form.backchannel_logout_uri.data,
                    client.backchannel_logout_session_required
                    and bool((form.backchannel_logout_uri.data or "").strip()),
                ),
            )
        except ServiceError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            flash("Changes saved.", "success")
            if was_verified and not client.verified:
                flash(
                    "The operator verified this app under its former name and redirect URIs, "
                    "so it is no longer verified: people now see it marked Not verified. Ask "
                    "the operator of this server to verify it again.",
                    "info",
                )
            return redirect(url_for("console.show_client", client_id=client.client_id))
    status = 400 if request.method == "POST" else 200
    return render_template("console/edit.html", form=form, client=client), status


@bp.route("/clients/<client_id>/rotate-secret", methods=["GET", "POST"])
def rotate_secret(client_id: str) -> Response | str:
    """GET asks "are you sure"; POST (with its CSRF token) rotates. The previous secret keeps
    working for ``CLIENT_SECRET_GRACE`` seconds, so the app can switch without an outage,
    unless the developer chose to end it now (``previous=end``: a secret that leaked)."""
    client = _own_client_or_404(client_id)
    grace = int(current_app.config["CLIENT_SECRET_GRACE"])
    form = ActionForm()
    if request.method == "GET" and client.is_public:
        flash("A public client has no secret.", "error")
        return redirect(url_for("console.show_client", client_id=client.client_id))
    if request.method == "GET":
        return render_template(
            "console/confirm_rotate.html",
            client=client,
            form=form,
            grace=grace,
            previous_secret_expires=clients.previous_secret_expiry(client),
        )
    if not form.validate_on_submit():
        abort(400)
    try:
        if request.form.get("previous") == "end":
            grace = 0
        secret = clients.rotate_secret(client, grace, address=request.remote_addr)
        db.session.commit()
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("console.show_client", client_id=client.client_id))
    return render_template(
        "console/created.html",
        client=client,
        secret=secret,
        rotated=True,
        previous_secret_expires=clients.previous_secret_expiry(client),
    )


@bp.route("/clients/<client_id>/delete", methods=["GET", "POST"])
def delete_client(client_id: str) -> Response | str:
    """GET asks "are you sure"; POST (with its CSRF token) deletes."""
    client = _own_client_or_404(client_id)
    form = ActionForm()
    if request.method == "GET":
        return render_template("console/confirm_delete.html", client=client, form=form)
    if not form.validate_on_submit():
        abort(400)
    name = client.name
    clients.delete_client(client, address=request.remote_addr)
    db.session.commit()
    flash(f"{name} was deleted, and every token it held was revoked.", "success")
    return redirect(url_for("console.index"))
