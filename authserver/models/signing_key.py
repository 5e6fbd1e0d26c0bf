from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .. import clock
from .base import Base, UTCDateTime


class SigningKey(Base):
    """An RS256 key pair. The newest activated, unretired key signs; retired ones stay published
    a while. A key not yet activated is pre-published: in the JWKS, but signing nothing yet."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(10), default="RS256")
    #: The private key as ``security.key_wrapping`` stores it: encrypted under a key kept outside
    #: the database. The column keeps its first name; the attribute says what it holds.
    encrypted_private_key: Mapped[str] = mapped_column("private_pem", Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: When it started signing; None while it is only published (``keys rotate --publish-only``).
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=clock.now)
    #: When a newer key took over; the public key stays in the JWKS until tokens it signed expire.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the operator pulled it out of the JWKS at once (``keys retire --now``: it leaked);
    #: tokens it signed are refused from then on, and cleanup deletes the row.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
