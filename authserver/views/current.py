"""The browser's login session, as the views see it."""

from __future__ import annotations

from flask import g
from flask_login import current_user

from ..models import UserSession


def current_login() -> UserSession | None:
    """The live server-side session of the logged-in person, or None (set by the user loader)."""
    if not current_user.is_authenticated:
        return None
    return g.get("login_session")
