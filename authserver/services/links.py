"""One-time links mailed to people: verify an address, reset a password, confirm a new address.

The token is 256 random bits; only its SHA-256 is stored (a copy of the database opens nothing),
and it is looked up by that hash, so no comparison of secrets happens in Python at all. A link
works once: ``use`` is one conditional UPDATE (unused and unexpired), so of two simultaneous
uses exactly one matches the row. Lifetimes: ``policy.LINK_LIFETIMES``.
"""

from __future__ import annotations

import enum
import hashlib
import secrets

from sqlalchemy import select, update

from .. import clock, policy
from ..extensions import db
from ..models import OneTimeLink, User
from . import rows_matched


class LinkState(enum.Enum):
    USABLE = "usable"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # never issued, altered, or of another purpose


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user: User, purpose: str, new_email: str | None = None) -> str:
    """A new link's token (the only time it exists in clear); flushed, not committed."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        OneTimeLink(
            purpose=purpose,
            user_id=user.id,
            token_hash=token_hash(token),
            new_email=new_email,
            expires_at=clock.now() + policy.LINK_LIFETIMES[purpose],
        )
    )
    db.session.flush()
    return token


def _find(token: str | None, purposes: tuple[str, ...]) -> OneTimeLink | None:
    if not token or len(token) > 200:
        return None
    return db.session.scalar(
        select(OneTimeLink).where(
            OneTimeLink.token_hash == token_hash(token), OneTimeLink.purpose.in_(purposes)
        )
    )


def owner(token: str | None, purposes: tuple[str, ...]) -> OneTimeLink | None:
    """The link, if it is one of ``purposes`` and still usable (to lock its person first)."""
    link = _find(token, purposes)
    if link is None or link.used_at is not None or link.expires_at <= clock.now():
        return None
    return link


def state(token: str | None, purposes: tuple[str, ...]) -> LinkState:
    """What following this link would meet, without using it (the reset form's GET)."""
    link = _find(token, purposes)
    if link is None:
        return LinkState.UNKNOWN
    if link.used_at is not None:
        return LinkState.USED
    if link.expires_at <= clock.now():
        return LinkState.EXPIRED
    return LinkState.USABLE


def use(token: str | None, purposes: tuple[str, ...]) -> OneTimeLink | None:
    """Use the link: the row if this call is the one that used it, else None (used before, by
    a simultaneous request, expired, or unknown). Flushed; a rollback gives it back."""
    if not token or len(token) > 200:
        return None
    now = clock.now()
    claimed = rows_matched(
        update(OneTimeLink)
        .where(
            OneTimeLink.token_hash == token_hash(token),
            OneTimeLink.purpose.in_(purposes),
            OneTimeLink.used_at.is_(None),
            OneTimeLink.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed != 1:
        return None
    link = _find(token, purposes)
    if link is not None:
        db.session.refresh(link)  # the identity map may hold it from before the UPDATE
    return link


def withdraw(user: User, purpose: str) -> int:
    """Mark every unused link of ``user`` for ``purpose`` used (a reset done, an address
    changed): an older mail's link must not undo what a newer one did."""
    return rows_matched(
        update(OneTimeLink)
        .where(
            OneTimeLink.user_id == user.id,
            OneTimeLink.purpose == purpose,
            OneTimeLink.used_at.is_(None),
        )
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
