"""Browser login sessions, kept server-side, and the tokens apps received during them.

The signed cookie carries only the session's ``sid``; the ``user_sessions`` row decides whether
it still counts. A session ends when the person logs out (this browser, or everywhere), when
their password changes, after ``SESSION_IDLE_TIMEOUT`` seconds without a request, and after
``SESSION_MAX_LIFETIME`` seconds in any case.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from .. import clock, policy
from ..extensions import db
from ..models import AuthorizationCode, TokenFamily, User, UserSession
from . import backchannel, locks, rows_matched
from .tokens import revoke_family

#: ``last_seen_at`` is written at most this often: a write per page view would be waste.
TOUCH_INTERVAL = timedelta(seconds=60)


def start_session(
    user: User, address: str | None, user_agent: str | None, amr: list[str] | None = None
) -> UserSession:
    """A new login session for ``user``, signed in with the RFC 8176 methods ``amr`` (a
    password, unless said otherwise); the caller commits."""
    # After the person's lock (``locks``): an operator's "sessions end" or "users disable" that
    # is in flight ends this session too, or commits first (and the disabled account's session
    # is refused by ``live_session``).
    locks.lock_person(user.id)
    now = clock.now()
    login = UserSession(
        sid=secrets.token_urlsafe(24),
        user=user,
        auth_time=now,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=int(current_app.config["SESSION_MAX_LIFETIME"])),
        address=(address or "")[:45] or None,
        user_agent=(user_agent or "")[:300] or None,
        amr=" ".join(amr or ["pwd"]),
    )
    db.session.add(login)
    return login


def methods_of(login: UserSession) -> list[str]:
    """How the person proved who they are in this session (RFC 8176 values)."""
    return (login.amr or "pwd").split()


def add_methods(login: UserSession, *methods: str) -> None:
    """A step up: the person passed ``methods`` (a second factor) in this session; the caller
    commits. ``auth_time`` stays the first login's: ``max_age`` asks about that one."""
    login.amr = " ".join(policy.amr_with(methods_of(login), *methods))


def is_live(login: UserSession, now: datetime) -> bool:
    """Not ended, inside its absolute lifetime, and used recently enough."""
    idle = timedelta(seconds=int(current_app.config["SESSION_IDLE_TIMEOUT"]))
    return login.ended_at is None and now < login.expires_at and now < login.last_seen_at + idle


def live_session(sid: object, user_id: int) -> UserSession | None:
    """The live session ``sid`` of user ``user_id``, its last use noted; else None."""
    if not isinstance(sid, str) or not sid or len(sid) > 64:
        return None
    login = db.session.scalar(select(UserSession).where(UserSession.sid == sid))
    now = clock.now()
    if login is None or login.user_id != user_id or not is_live(login, now):
        return None
    if login.user.disabled_at is not None:
        return None  # ended when the account was disabled; this is only a second lock
    if now - login.last_seen_at >= TOUCH_INTERVAL:
        # Its own short transaction: noting activity is bookkeeping, not part of the request.
        with db.engine.begin() as connection:
            connection.execute(
                update(UserSession).where(UserSession.id == login.id).values(last_seen_at=now)
            )
        login.last_seen_at = now
    return login


def still_open(login: UserSession) -> bool:
    """Whether ``login`` has not been ended, as committed now (read again after a lock)."""
    ended = db.session.execute(
        select(UserSession.ended_at).where(UserSession.id == login.id)
    ).first()
    return ended is not None and ended[0] is None


def end_session(sid: str | None) -> None:
    """End one session (logging out in this browser); the caller commits."""
    if not sid:
        return
    user_id = db.session.scalar(
        select(UserSession.user_id).where(UserSession.sid == sid, UserSession.ended_at.is_(None))
    )
    if user_id is not None:
        backchannel.queue_logouts(user_id, [sid])  # in this transaction: told only if it ends
    db.session.execute(
        update(UserSession)
        .where(UserSession.sid == sid, UserSession.ended_at.is_(None))
        .values(ended_at=clock.now())
        .execution_options(synchronize_session=False)
    )


def end_all_sessions(user: User, keep_sid: str | None = None) -> int:
    """End every session of ``user`` (but ``keep_sid``): log out everywhere; the caller commits."""
    locks.lock_person(user.id)  # a login in flight ends too, or starts after (``locks``)
    statement = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None)
    )
    if keep_sid:
        statement = statement.where(UserSession.sid != keep_sid)
    ending = db.session.scalars(
        select(UserSession.sid).where(
            UserSession.user_id == user.id,
            UserSession.ended_at.is_(None),
            UserSession.sid != (keep_sid or ""),
        )
    ).all()
    backchannel.queue_logouts(user, ending)  # in this transaction: told only if they end
    return rows_matched(
        statement.values(ended_at=clock.now()).execution_options(synchronize_session=False)
    )


def sessions_of(user: User) -> list[UserSession]:
    """The user's live sessions, newest first (for "where you are logged in")."""
    now = clock.now()
    candidates = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .order_by(UserSession.created_at.desc())
    )
    return [login for login in candidates if is_live(login, now)]


def revoke_session_tokens(user: User, session_id: str) -> int:
    """Revoke what apps received while this login session lasted, codes not yet redeemed included.

    The caller commits.
    """
    families = list(
        db.session.scalars(
            select(TokenFamily).where(
                TokenFamily.user_id == user.id,
                TokenFamily.session_id == session_id,
                TokenFamily.revoked_at.is_(None),
            )
        )
    )
    for family in families:
        revoke_family(family)
    db.session.execute(
        delete(AuthorizationCode)
        .where(
            AuthorizationCode.user_id == user.id,
            AuthorizationCode.session_id == session_id,
            AuthorizationCode.redeemed_at.is_(None),
        )
        .execution_options(synchronize_session=False)
    )
    return len(families)


def log_out(
    user: User, sid: str | None, revoke_tokens: bool = False, everywhere: bool = False
) -> None:
    """End this session (or all of the user's), optionally revoking what apps got in it; the
    caller commits."""
    # Before reading which sessions and grants there are: a code redeemed meanwhile has made
    # its grant by then, or finds its code discarded (``locks``).
    locks.lock_person(user.id)
    if revoke_tokens:
        sids = [login.sid for login in sessions_of(user)] if everywhere else [sid]
        for each in {s for s in sids if s}:
            revoke_session_tokens(user, each)
    if everywhere:
        end_all_sessions(user)
    else:
        end_session(sid)


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_user_agent(user_agent: str | None) -> str:
    """A User-Agent header, summarised for people: "Firefox on Linux"."""
    if not user_agent:
        return "Unknown browser"
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "Unknown browser")
