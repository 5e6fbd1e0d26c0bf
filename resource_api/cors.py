"""CORS: pages on the origins in ``RESOURCE_API_CORS_ORIGINS`` may call the API from a browser.

Preflights and actual requests alike; the answer names the caller's origin (never ``*``, never
credentials: the API takes bearer tokens, not cookies) and exposes ``WWW-Authenticate``, so a
browser app can read why a token was refused (RFC 6750 §3), and ``Location`` of a new event.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.wrappers import Response

ALLOWED_METHODS = "GET, POST, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, DPoP"  # DPoP: RFC 9449 §4.1 proofs
EXPOSED_HEADERS = "WWW-Authenticate, Location"
#: Seconds a browser may reuse a preflight's answer.
PREFLIGHT_MAX_AGE = "600"


def init_cors(app: Flask) -> None:
    """Answer CORS for the listed origins; with none listed, no hook runs on any request."""
    allowed: frozenset[str] = app.config["CORS_ORIGINS"]
    if not allowed:
        return

    @app.after_request
    def cors_headers(response: Response) -> Response:
        response.vary.add("Origin")  # the answer depends on it: shared caches must know
        origin = request.headers.get("Origin")
        if origin not in allowed:
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        else:
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response
