"""OpenID Connect UserInfo, and the discovery documents."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, jsonify, request
from werkzeug.wrappers import Response

from ..extensions import csrf
from ..oauth2.metadata import server_metadata
from ..scopes import scope_list
from ..services import tokens
from ..services.claims import user_claims
from . import cors
from .responses import cacheable_json

bp = Blueprint("oidc", __name__)


def bearer_error(status: int, error: str | None = None, description: str = "", **extra: str):
    """RFC 6750 §3: the error in WWW-Authenticate, and as JSON for humans reading it."""
    params = [f'realm="{current_app.config["ISSUER"]}"']
    if error:
        params.append(f'error="{error}"')
        if description:
            params.append(f'error_description="{description}"')
    params += [f'{k}="{v}"' for k, v in extra.items()]
    body = {"error": error, "error_description": description} if error else {}
    response = jsonify(body)
    response.status_code = status
    response.headers["WWW-Authenticate"] = "Bearer " + ", ".join(params)
    response.headers["Cache-Control"] = "no-store"
    return response


def _bearer_token() -> tuple[str | None, Response | None]:
    """The token from the header or (POST) the form body, RFC 6750 §2.1-2.2; never both."""
    header = request.headers.get("Authorization", "")
    from_header = header[7:].strip() if header[:7].lower() == "bearer " else None
    from_body = None
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        from_body = request.form.get("access_token")
    if "access_token" in request.args:
        return None, bearer_error(
            400, "invalid_request", "Send the token in a header, not the URL."
        )
    if from_header and from_body:
        return None, bearer_error(400, "invalid_request", "Send the token one way only.")
    return from_header or from_body, None


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo() -> Response:
    token, problem = _bearer_token()
    if problem:
        return problem
    if not token:
        return bearer_error(401)
    record = tokens.find_access_token(token)
    if record is not None:
        # Its client's origins may read the answer, a 401 for a revoked or expired token too.
        cors.note_client(record.client)
    if record is None or not tokens.access_token_active(record):
        return bearer_error(401, "invalid_token", "The access token is invalid or expired.")
    scopes = scope_list(record.scope)
    user = record.user
    if user is None or "openid" not in scopes:
        return bearer_error(403, "insufficient_scope", "The token lacks 'openid'.", scope="openid")
    response = jsonify(user_claims(user, scopes))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/.well-known/openid-configuration")
@bp.get("/.well-known/oauth-authorization-server")
def discovery() -> Response:
    # The document depends on the configuration only: built once per process.
    built = current_app.extensions.get("authserver.discovery")
    if built is None:
        body = json.dumps(server_metadata(), separators=(",", ":")).encode()
        built = current_app.extensions["authserver.discovery"] = (
            body,
            f'"{hashlib.sha256(body).hexdigest()[:32]}"',
        )
    return cacheable_json(built[0], built[1], max_age=3600)


@bp.get("/.well-known/oauth-authorization-server/<path:issuer_path>")
@bp.get("/.well-known/openid-configuration/<path:issuer_path>")
@bp.get("/<path:issuer_path>/.well-known/openid-configuration")
def path_aware_discovery(issuer_path: str) -> Response:
    """RFC 8414 §3.1 (the well-known string between host and path) and OIDC Discovery §4.1
    (appended to the issuer) for an issuer with a path, ``https://host/tenant``: the three
    places clients look. Any other path is not ours."""
    own = urlsplit(current_app.config["ISSUER"]).path.strip("/")
    if not own or issuer_path.strip("/") != own:
        abort(404)
    return discovery()
