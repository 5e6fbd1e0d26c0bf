"""Logging in again for one authorization request, remembered in the signed session cookie.

``prompt=login``, ``max_age`` and an ``id_token_hint`` ask for a login now (OIDC Core §3.1.2.1).
The login page's ``next`` is the request without them, or the login would send the person
straight back to the login page; so what they asked for is kept here, keyed by a digest of that
``next``, rather than in a URL anyone can edit:

- :func:`remember`, before the authorization endpoint sends the person to log in: opening
  ``next`` without logging in meets the same requirement again;
- :func:`requirements` and :func:`logged_in`, around the reset of the session a password login
  makes: the requirements outlive the reset, and the login is marked as made for ``next``, in
  the login session it started;
- :func:`recall`, by the authorization endpoint: the requirement remembered for a request, and
  whether the current login was made for it (which counts once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import asdict

from flask import session

from ..policy import LoginRequirement

#: The requests this browser was sent to log in for: {digest of next: requirement}.
_PENDING = "login_pending"
#: The request the current login was made for: its digest, the login's sid, its requirement.
_MADE_FOR = "login_made_for"
#: A few requests at once (tabs); the oldest is forgotten first, so the cookie stays small.
_KEEP = 4


def _digest(url: str) -> str:
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _loaded(value: object) -> LoginRequirement | None:
    """A requirement as stored; anything else (a cookie from another version) is none."""
    if not isinstance(value, dict):
        return None
    max_age, hint_subject = value.get("max_age"), value.get("hint_subject")
    return LoginRequirement(
        prompt_login=value.get("prompt_login") is True,
        max_age=max_age if isinstance(max_age, int) else None,
        hint_subject=hint_subject if isinstance(hint_subject, str) else None,
    )


def _pending() -> dict:
    pending = session.get(_PENDING)
    return dict(pending) if isinstance(pending, dict) else {}


def remember(next_url: str, requirement: LoginRequirement) -> None:
    """The person is sent to log in for ``next_url``, which no longer says what is required."""
    if not requirement.asks_anything():
        return
    pending = _pending()
    key = _digest(next_url)
    pending.pop(key, None)
    pending[key] = asdict(requirement)
    session[_PENDING] = dict(list(pending.items())[-_KEEP:])


def requirements() -> dict:
    """What is remembered, to hand to :func:`logged_in` across the login's session reset."""
    return _pending()


def logged_in(remembered: dict, sid: str, next_url: str | None) -> None:
    """A password login, with the new session ``sid``, was made for ``next_url``.

    Requirements only ever add a login, so they may outlive the reset (session fixation can
    plant nothing that loosens one); the one for ``next_url`` moves to the login made for it.
    """
    key = _digest(next_url) if next_url is not None else None
    requirement = remembered.pop(key, None)
    if remembered:
        session[_PENDING] = remembered
    if key is not None:
        session[_MADE_FOR] = {"request": key, "sid": sid, "requirement": requirement}


def recall(next_url: str, sid: str | None) -> tuple[LoginRequirement | None, bool]:
    """What was asked of the login for the request whose login page ``next`` is ``next_url``,
    and whether the current login session ``sid`` was started by a login made for it. That
    login counts once: afterwards the request asks nothing more than its own parameters."""
    key = _digest(next_url)
    made_for = session.get(_MADE_FOR)
    if (
        sid is not None
        and isinstance(made_for, dict)
        and made_for.get("request") == key
        and isinstance(made_for.get("sid"), str)
        and hmac.compare_digest(made_for["sid"].encode(), sid.encode())
    ):
        del session[_MADE_FOR]
        return _loaded(made_for.get("requirement")), True
    return _loaded(_pending().get(key)), False
