from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from .base import Base, UTCDateTime
from .user import User


class UserSession(Base):
    """A browser login, identified by the ``sid`` kept in the signed session cookie.

    The cookie alone proves nothing any more: the row must exist, not be ended, and be inside
    its idle and absolute lifetimes. So logging out, "log out everywhere" and a password change
    end the session for every copy of the cookie, not just the browser that asked.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The OIDC ``sid`` (also in ID tokens): it names the session, it does not unlock it.
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    #: How the person proved who they are in this session, RFC 8176 values separated by
    #: spaces (``pwd``, ``otp``, ``hwk``/``swk``, ``mfa``); a step up adds to them.
    amr: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship()
