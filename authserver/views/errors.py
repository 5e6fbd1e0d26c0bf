"""Error responses: JSON in the RFC 6749 §5.2 shape under /oauth, a readable page elsewhere."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from outages import RETRY_AFTER_SECONDS, database_unavailable

from ..extensions import db
from ..security.key_wrapping import KeyUnavailable

_CODES = {400: "invalid_request", 401: "invalid_client", 404: "not_found", 405: "invalid_request"}

__all__ = ["RETRY_AFTER_SECONDS", "database_unavailable", "register"]


def _wants_json() -> bool:
    return request.path.startswith(("/oauth/", "/.well-known/")) and not request.path.startswith(
        "/oauth/authorize"
    )


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return (
            render_template(
                "errors/error.html",
                title="This form has expired",
                message="For your safety the form could not be accepted. Go back, reload the "
                "page and try again.",
            ),
            400,
        )

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError) -> Response:
        if not database_unavailable(error):
            raise error
        # Nothing this request did is kept: services only flush and the endpoint's one commit
        # never ran (or failed), so the transaction dies with the connection. The pool pings
        # before each checkout, so the next request gets a fresh connection once it is back.
        try:
            db.session.rollback()
        except SQLAlchemyError:
            pass  # the connection is gone: the session is discarded at the request's end anyway
        current_app.logger.warning("database unavailable: %s", error.orig)
        retry_after = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if _wants_json():
            response = jsonify(
                error="temporarily_unavailable",
                error_description="The server cannot reach its database; try again shortly.",
            )
            response.status_code = 503
            response.headers.update(retry_after)
            response.headers["Cache-Control"] = "no-store"
            return response
        # A page of its own, rendered without the context processors: the site's layout and
        # Flask-Login's processor ask who is logged in, which needs the database.
        template = current_app.jinja_env.get_template("errors/unavailable.html")
        page = template.render(retry_after=RETRY_AFTER_SECONDS)
        return Response(page, status=503, headers=retry_after, mimetype="text/html")

    @app.errorhandler(KeyUnavailable)
    def signing_key_unavailable(error: KeyUnavailable) -> tuple[Response | str, int]:
        # A configuration fault on this node (a wrong or missing key-encryption key), not the
        # client's: nothing is kept, the operator reads why, the client a plain 503.
        db.session.rollback()
        current_app.logger.error("signing key unavailable: %s", error)
        description = "The server cannot use its signing keys right now; try again later."
        if _wants_json():
            response = jsonify(error="temporarily_unavailable", error_description=description)
            response.headers["Cache-Control"] = "no-store"
            return response, 503
        page = render_template(
            "errors/error.html", title="Temporarily unavailable", message=description
        )
        return page, 503

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response | str, int]:
        if isinstance(error.response, Response):  # werkzeug's type allows a sans-I/O one too
            # Made by the code that refused (a throttling page with its Retry-After).
            return error.response, error.response.status_code
        status = error.code or 500
        if _wants_json():
            body = {
                "error": _CODES.get(status, "server_error" if status >= 500 else "invalid_request")
            }
            if error.description:
                body["error_description"] = error.description
            return jsonify(body), status
        titles = {404: "Page not found", 405: "Method not allowed", 429: "Too many attempts"}
        if request_ctx.url_adapter is None:
            # Werkzeug could not route the request at all (an invalid Host header): no page can
            # build its links, so answer in plain text.
            return Response(f"{status} {error.name}\n", mimetype="text/plain"), status
        return (
            render_template(
                "errors/error.html",
                title=titles.get(status, error.name),
                message=error.description,
            ),
            status,
        )
