from __future__ import annotations

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .. import clock
from .base import Base, UTCDateTime


def new_subject() -> str:
    # The OIDC ``sub``: opaque and never reassigned, so it reveals neither row counts nor email.
    return secrets.token_urlsafe(16)


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), unique=True, default=new_subject)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    #: SHA-256 of the address's skeleton (``services.users.email_skeleton``): one account per
    #: set of addresses that read alike. None only for a look-alike of an older account, made
    #: before the key existed (migration 0008 gave the key to the oldest).
    email_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)
    #: Set by the operator (``users disable``): no login, no session, no token while it is set.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the person followed a link mailed to ``email`` (``services/accounts.py``); None
    #: until then, and again after a change of address until the new one is confirmed.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Flask-Login identity; the row id is fine inside our own signed session.
    def get_id(self) -> str:
        return str(self.id)

    # Authlib's user protocol
    def get_user_id(self) -> str:
        return self.subject
