"""The machine endpoints: token, revocation, introspection, registration and the JWKS.

Each is Authlib's endpoint behind the server's throttling (``throttling``), answered uncached
where it carries token material, and committed once, only if it succeeded (``commits_once``).
The authorization endpoint, which people see, is ``authorize.py``.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, request
from werkzeug.wrappers import Response

from .. import policy, throttling
from ..extensions import csrf, db
from ..logs import note
from ..oauth2 import authorization_server
from ..services import keys
from .responses import cacheable_json, commits_once, error_code, uncached

bp = Blueprint("oauth2", __name__)


@bp.post("/oauth/token")
@csrf.exempt
@throttling.machine_endpoint
def token() -> Response:
    grant_type = request.form.get("grant_type")
    note(grant_type=grant_type if grant_type in policy.GRANT_TYPES else None)
    return uncached(_issue())


@commits_once(record="token.refused")
def _issue() -> Response:
    return authorization_server().create_token_response()


@bp.post("/oauth/device_authorization")
@csrf.exempt
@throttling.machine_endpoint
def device_authorization() -> Response:
    return uncached(_start_device_authorization())


@commits_once()
def _start_device_authorization() -> Response:
    return authorization_server().create_endpoint_response("device_authorization")


@bp.get("/oauth/jwks")
def jwks() -> Response:
    published = keys.jwks()
    # A cold process read the keys (or a fresh install just made its first, to keep); a warm
    # one answered from memory without so much as making a session.
    if db.session.registry.has() and db.session().in_transaction():
        db.session.commit()
    # Short, so a rotation reaches resource servers quickly; they refetch on unknown kid anyway.
    return cacheable_json(published.body, published.etag, max_age=300)


@bp.post("/oauth/revoke")
@csrf.exempt
@throttling.machine_endpoint
def revoke() -> Response:
    return uncached(_revoke())


@commits_once()
def _revoke() -> Response:
    return authorization_server().create_endpoint_response("revocation")


@bp.post("/oauth/introspect")
@csrf.exempt
@throttling.machine_endpoint
def introspect() -> Response:
    response = authorization_server().create_endpoint_response("introspection")
    note(outcome="ok" if response.status_code < 400 else error_code(response))
    return uncached(response)


@bp.post("/oauth/par")
@csrf.exempt
@throttling.machine_endpoint
def pushed_authorization_request() -> Response:
    return uncached(_push())


@commits_once()
def _push() -> Response:
    return authorization_server().create_endpoint_response("pushed_authorization")


@bp.post("/oauth/register")
@csrf.exempt
@throttling.registration_endpoint
@commits_once()
def register() -> Response:
    if not current_app.config["REGISTRATION_ENABLED"]:
        abort(404)
    return authorization_server().create_endpoint_response("client_registration")


@bp.route("/oauth/register/<client_id>", methods=["GET", "PUT", "DELETE"])
@csrf.exempt
@throttling.registration_endpoint
@commits_once()
def client_configuration(client_id: str) -> Response:
    if not current_app.config["REGISTRATION_ENABLED"]:
        abort(404)
    return authorization_server().create_endpoint_response("client_configuration")
