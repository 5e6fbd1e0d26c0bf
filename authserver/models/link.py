from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from .base import Base, UTCDateTime
from .user import User


class OneTimeLink(Base):
    """A link mailed to a person (verify an address, reset a password, confirm a new
    address): only the SHA-256 of its token is kept; it works once (``used_at``, set by one
    conditional UPDATE) and until ``expires_at`` (``services/links.py``)."""

    __tablename__ = "one_time_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "verify", "reset" or "change_email".
    purpose: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The address a "change_email" link moves the account to, once followed.
    new_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
