"""HTTP glue: blueprints, the request hooks each needs, the login manager's loader, and headers
every response carries.

Each extension's request hooks run only on the blueprints they apply to, not on every request
(JWKS, discovery and the probes run none of them):

=======================================  ======================================================
hook                                     where
=======================================  ======================================================
CSRF check (Flask-WTF), before the view  ``FORM_BLUEPRINTS``, on POST/PUT/PATCH/DELETE
remember-cookie upkeep (Flask-Login)     ``PERSON_BLUEPRINTS``, after the view
throttling counts (Flask-Limiter)        each throttled view, after it answers
                                         (``throttling.counted_after_answer``)
CORS headers (``cors.py``)               ``CROSS_ORIGIN_BLUEPRINTS``, after the view
=======================================  ======================================================

Flask-Limiter's own before-request check is for default and application-wide limits; this
server names every limit on its view (the decorators check them), so that hook is kept only if
an operator configures such limits. Its teardown clears state kept on the request context,
which goes with the request anyway.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, Response, g, request, session

from .. import throttling
from ..extensions import RequestHooks, login_manager
from ..models import User
from ..services import sessions
from . import (
    account,
    auth,
    authorize,
    console,
    cors,
    device,
    errors,
    factors,
    health,
    mail_links,
    oauth2,
    oidc,
    passkeys,
    security,
)

#: Headers every response carries, unless its view set them.
EVERY_RESPONSE = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))
#: ...and every HTML page. No framing: the consent page must not be clickjacked (RFC 9700
#: §4.16); no caching of pages that show personal data, CSRF tokens and once-only secrets.
EVERY_PAGE = EVERY_RESPONSE + (
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'self'; frame-ancestors 'none'; form-action 'self' *; "
        "base-uri 'none'; object-src 'none'",
    ),
    ("Cache-Control", "no-store"),
)
#: Blueprints with forms a browser posts: the CSRF check before their views (the consent form
#: posts back to /oauth/authorize, in ``authorize``; ``oauth2`` holds only machine endpoints,
#: which take no cookie and are exempt).
FORM_BLUEPRINTS = (
    auth.bp,
    authorize.bp,
    device.bp,
    console.bp,
    account.bp,
    mail_links.bp,
    security.bp,
    factors.bp,
    passkeys.bp,
)
#: Blueprints whose pages a logged-in person uses, and where login and logout happen.
PERSON_BLUEPRINTS = (
    auth.bp,
    console.bp,
    account.bp,
    mail_links.bp,
    security.bp,
    factors.bp,
    passkeys.bp,
)
#: Blueprints holding the answers other origins may read (``cors.py`` says which).
CROSS_ORIGIN_BLUEPRINTS = (oauth2.bp, oidc.bp)


def register_views(
    app: Flask, csrf: RequestHooks, limiter: RequestHooks, login: RequestHooks
) -> None:
    for module in (
        auth,
        authorize,
        device,
        oauth2,
        oidc,
        console,
        account,
        mail_links,
        security,
        factors,
        passkeys,
        health,
    ):
        app.register_blueprint(module.bp)
    errors.register(app)
    if csrf.after or csrf.teardown or login.before or login.teardown:
        # A hook placed nowhere would be lost: an extension's upgrade must not do that quietly.
        raise RuntimeError("Flask-WTF or Flask-Login registered request hooks of a new kind")
    for blueprint in FORM_BLUEPRINTS:
        for hook in reversed(csrf.before):
            # First, as before any of the blueprint's own checks (the console's login).
            _hooks(app.before_request_funcs, blueprint).insert(0, _on_unsafe_methods(app, hook))
    # Before the CSRF check: a POSTed authorization request carries no token (OIDC Core §3.1.2.1).
    _hooks(app.before_request_funcs, authorize.bp).insert(0, authorize.posted_authorization_request)
    for blueprint in PERSON_BLUEPRINTS:
        _hooks(app.after_request_funcs, blueprint).extend(login.after)
    for blueprint in CROSS_ORIGIN_BLUEPRINTS:
        _hooks(app.after_request_funcs, blueprint).append(cors.cors_headers)
    throttling.count_after_answers_with(app, limiter.after)
    if app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION"):
        app.before_request_funcs.setdefault(None, []).extend(limiter.before)

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

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        # One pass over what the view set (each ``setdefault`` would be a pass of its own).
        present = {name.lower(): value for name, value in headers.items()}
        wanted: tuple[tuple[str, str], ...] = EVERY_RESPONSE
        if present.get("content-type", "").startswith("text/html"):
            wanted = EVERY_PAGE
        for name, value in wanted:
            if name.lower() not in present:
                headers.add(name, value)
        return response


def _hooks(registry: dict, blueprint: Blueprint) -> list[Callable]:
    """The list of hooks run for ``blueprint``'s requests (Flask keeps them by its name)."""
    return registry.setdefault(blueprint.name, [])


def _on_unsafe_methods(app: Flask, check: Callable[[], None]) -> Callable[[], None]:
    """``check`` for the methods Flask-WTF protects only: a GET skips its exemption lookups."""
    config = app.config

    def on_unsafe_methods() -> None:
        if request.method in config["WTF_CSRF_METHODS"]:
            return check()
        return None

    return on_unsafe_methods
