"""HTTP glue: blueprints, the login manager's loader, and headers every response carries."""

from __future__ import annotations

from flask import Flask, Response, g, request, session

from ..extensions import limiter, login_manager
from ..models import User
from ..services import sessions
from . import account, auth, authorize, console, cors, errors, health, oauth2, oidc

#: Public documents and probes: no throttling, no session.
UNTHROTTLED_PATHS = ("/.well-known/", "/oauth/jwks", "/healthz", "/readyz", "/static/")


def register_views(app: Flask) -> None:
    for module in (auth, authorize, oauth2, oidc, console, account, health):
        app.register_blueprint(module.bp)
    errors.register(app)
    cors.register(app)

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        # The signed cookie is not enough: its server-side session must still be live, so a
        # copy of the cookie dies with logout, a password change or the session's timeouts.
        try:
            login = sessions.live_session(session.get("sid"), int(user_id))
        except ValueError:
            login = None
        if login is None:
            session.clear()
            return None
        g.login_session = login
        return login.user

    @limiter.request_filter
    def public_documents_are_never_throttled() -> bool:
        # Fetched by every resource server and app, and served from memory: the limiter's own
        # bookkeeping would cost more than answering.
        return request.path.startswith(UNTHROTTLED_PATHS)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            # No framing: the consent page must not be clickjacked (RFC 9700 §4.16).
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; frame-ancestors 'none'; form-action 'self' *; "
                "base-uri 'none'; object-src 'none'",
            )
            headers.setdefault("Cache-Control", "no-store")
        return response
