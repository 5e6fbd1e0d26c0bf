"""RFC 9728 OAuth 2.0 Protected Resource Metadata: what a client needs to find how to get a
token for this API, served at ``/.well-known/oauth-protected-resource`` (with the resource
identifier's path appended when it has one, §3.1) and named in every ``WWW-Authenticate``
challenge (§5.1)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Response, abort, current_app, jsonify

from .dpop import ALGORITHMS
from .openapi import SCOPES

WELL_KNOWN = "/.well-known/oauth-protected-resource"

bp = Blueprint("resource_metadata", __name__)


def metadata_url(resource: str) -> str:
    """RFC 9728 §3.1: the well-known path goes between the host and the resource's path."""
    parts = urlsplit(resource)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + path, "", ""))


def resource_metadata() -> dict:
    config = current_app.config
    return {
        "resource": config["AUDIENCE"],
        "authorization_servers": [config["ISSUER"]],
        "scopes_supported": list(SCOPES),
        "bearer_methods_supported": ["header", "body"]
        + (["query"] if config["ALLOW_QUERY_TOKEN"] else []),
        "resource_documentation": f"{config['AUDIENCE'].rstrip('/')}/openapi.json",
        # RFC 9728 §2 / RFC 9449 §7: DPoP-bound tokens are honoured, bearer tokens too.
        "dpop_signing_alg_values_supported": list(ALGORITHMS),
        "dpop_bound_access_tokens_required": False,
    }


@bp.get(WELL_KNOWN)
@bp.get(f"{WELL_KNOWN}/<path:suffix>")
def protected_resource_metadata(suffix: str = "") -> Response:
    # Served for our own identifier only: its path (if any) is the suffix (§3.1).
    if urlsplit(current_app.config["AUDIENCE"]).path.strip("/") != suffix.strip("/"):
        abort(404)
    response = jsonify(resource_metadata())
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["Access-Control-Allow-Origin"] = "*"  # public, read by browser clients
    return response
