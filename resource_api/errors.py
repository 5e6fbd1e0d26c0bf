"""Every error leaves the API as JSON ``{"error", "error_description"}``, never as an HTML page."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from outages import DRIVER_ERRORS, RETRY_AFTER_SECONDS, database_unavailable

from .extensions import db
from .issuer import IssuerUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answer: HTTP status, an error code, a sentence, and optional extra members."""

    status = 400
    error = "invalid_request"

    def __init__(
        self,
        description: str,
        *,
        status: int | None = None,
        error: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(description)
        self.description = description
        if status is not None:
            self.status = status
        if error is not None:
            self.error = error
        self.headers = headers or {}
        self.extra = extra


class ValidationError(ApiError):
    """A request body or parameter that breaks a rule; ``fields`` maps each field to its fault."""

    def __init__(self, fields: dict[str, str]) -> None:
        summary = "; ".join(f"{name}: {fault}" for name, fault in fields.items())
        super().__init__(f"Invalid request: {summary}", fields=fields)


def json_error(status: int, error: str, description: str, **extra: Any) -> Response:
    response = jsonify({"error": error, "error_description": description, **extra})
    response.status_code = status
    return response


# Error codes for the HTTP errors Flask raises itself, named like the RFC 6749 ones.
_HTTP_ERROR_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        response = json_error(error.status, error.error, error.description, **error.extra)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(IssuerUnavailable)
    def issuer_unavailable(error: IssuerUnavailable) -> Response:
        # The detail (URLs, reasons) is for the operator's log, not for API clients.
        log.warning("authorization server unavailable: %s", error)
        response = json_error(
            503,
            "temporarily_unavailable",
            "The authorization server could not be reached to check the access token; "
            "try again shortly.",
        )
        response.headers["Retry-After"] = "10"
        return response

    def database_error(error: Exception) -> Response:
        if not database_unavailable(error):
            raise error  # a refused query is a bug: Flask logs it, the client gets the 500 below
        # Nothing half-written: each write is one transaction that died with the connection.
        # The next request's checkout pings an idle connection and replaces a dead one, so
        # the API heals by itself once the database is back.
        try:
            db.session.rollback()
        except SQLAlchemyError:
            pass  # the connection is gone; the session is discarded at the request's end
        log.warning("database unavailable: %s", getattr(error, "orig", error))
        response = json_error(
            503,
            "temporarily_unavailable",
            "The API cannot reach its database; try again shortly.",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response.headers["Cache-Control"] = "no-store"
        return response

    # SQLAlchemy's errors, and the drivers' own from the raw connections ``reads`` uses.
    kinds: tuple[type[Exception], ...] = (DBAPIError, *DRIVER_ERRORS)
    for kind in kinds:
        app.register_error_handler(kind, database_error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_ERROR_CODES.get(status, "server_error" if status >= 500 else "invalid_request")
        response = json_error(status, code, error.description or error.name)
        allow = dict(error.get_headers()).get("Allow")
        if allow:
            response.headers["Allow"] = allow  # RFC 9110 §15.5.6: a 405 MUST list them
        return response

    @app.errorhandler(InternalServerError)
    def server_error(error: InternalServerError) -> Response:
        # Logged by Flask already; clients get no traceback or internals.
        return json_error(500, "server_error", "The server failed to handle the request.")
