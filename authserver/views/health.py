"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from ..extensions import db
from ..services import schema

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response | tuple[Response, int]:
    try:
        behind = schema.schema_behind()
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", reason="database unreachable"), 503
    db.session.rollback()  # a read, nothing to keep
    if behind is not None:
        # Its requests would fail wherever the code reads what the migration adds.
        return jsonify(status="unavailable", reason=behind), 503
    return jsonify(status="ok")
