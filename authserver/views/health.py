"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from .. import storage_watch
from ..extensions import db
from ..security.key_wrapping import KeyUnavailable
from ..services import keys, schema

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response | tuple[Response, int]:
    try:
        behind = schema.schema_behind()
        signing = None if behind else keys.current_active_key()
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", reason="database unreachable"), 503
    db.session.rollback()  # a read, nothing to keep
    if behind is not None:
        # Its requests would fail wherever the code reads what the migration adds.
        return jsonify(status="unavailable", reason=behind), 503
    if signing is not None:
        try:
            keys.private_key(signing)  # decrypted once per process, then cached
        except KeyUnavailable as error:
            # This node's key-encryption key cannot open the active key: every token request
            # it took would fail, so the balancer should send them to a node that can.
            return jsonify(status="unavailable", reason=str(error)), 503
    degraded = storage_watch.state()
    if degraded is not None:
        # Still ready (200): every node shares the same storage, so taking this one out of the
        # balancer would move its traffic to nodes in the same state; the detail says what.
        return jsonify(status="degraded", **degraded)
    return jsonify(status="ok")
