"""Liveness and readiness probes, as the authorization server has them (SPEC, issue 19 item 5).

``/healthz`` is 200 whenever the process answers (no database work); ``/readyz`` is 200 when
the API's database answers a ``SELECT 1`` and 503 with a JSON reason when it does not, so a
balancer stops sending requests to a node that could only answer 503. Neither needs a token.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from outages import RETRY_AFTER_SECONDS

from .extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        response = jsonify(status="unavailable", reason="database unreachable")
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    db.session.rollback()  # a read, nothing to keep
    return jsonify(status="ok")
