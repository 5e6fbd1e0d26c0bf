"""The browser session cookie, only where browsers need one.

Machine endpoints (token, revocation, introspection, UserInfo, registration, JWKS, discovery,
health) never read or write a session: no cookie is parsed or set there, and their answers do
not ``Vary: Cookie``, so shared caches may keep the public documents.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

MACHINE_PATHS = (
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/oauth/userinfo",
    "/oauth/jwks",
    "/oauth/register",
    "/oauth/par",
    "/.well-known/",
    "/healthz",
    "/readyz",
)


class BrowserOnlySessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(MACHINE_PATHS):
            return None  # Flask then uses its null session: readable, empty, never saved
        return super().open_session(app, request)
