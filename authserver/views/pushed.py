"""Which pushed authorization requests (RFC 9126) this browser opened, in the signed session.

The first opening of a ``request_uri`` claims it (``services/pushed_requests.claim``); the
person then logs in and consents over several requests to the same URL, which only this browser
may make. A claim outlives the login's session reset (like ``reauthentication``): it can only
let this browser finish a request it had already opened, never loosen anything.
"""

from __future__ import annotations

from flask import session

from ..security.secrets import hash_secret

_CLAIMED = "pushed_claimed"
#: A few at once (tabs); the oldest is forgotten first, so the cookie stays small.
_KEEP = 4


def _claimed() -> list[str]:
    value = session.get(_CLAIMED)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def claimed_here(request_uri: str) -> bool:
    return hash_secret(request_uri)[:32] in _claimed()


def remember(request_uri: str) -> None:
    key = hash_secret(request_uri)[:32]
    session[_CLAIMED] = [*[k for k in _claimed() if k != key], key][-_KEEP:]


def forget(request_uri: str) -> None:
    """The request was answered (a code or a refusal went back): it cannot be reopened."""
    key = hash_secret(request_uri)[:32]
    if key in _claimed():
        session[_CLAIMED] = [k for k in _claimed() if k != key]


def carried() -> list[str]:
    """What to hand back to :func:`restore` across a session reset."""
    return _claimed()


def restore(claims: list[str]) -> None:
    if claims:
        session[_CLAIMED] = claims
