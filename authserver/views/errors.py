"""Error responses: JSON in the RFC 6749 §5.2 shape under /oauth, a readable page elsewhere."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

_CODES = {400: "invalid_request", 401: "invalid_client", 404: "not_found", 405: "invalid_request"}


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

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response | str, int]:
        if error.response is not None:
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
