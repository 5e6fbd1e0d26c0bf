from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from .base import Base, UTCDateTime
from .client import Client
from .user import User


class DeviceAuthorization(Base):
    """One device authorization request (RFC 8628 §3.1): its device code and user code (both
    stored hashed), the person who typed the user code (bound from then on), their decision,
    and its single redemption."""

    __tablename__ = "device_authorizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: SHA-256 of the normalised user code (8 letters, no dash).
    user_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    #: What the device asked for; ``granted_scope`` is what the person allowed.
    scope: Mapped[str] = mapped_column(String(500))
    resources: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Seconds the device must wait between polls; raised by 5 at each ``slow_down``.
    interval: Mapped[int] = mapped_column(default=5)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The person who typed or confirmed the user code: only they may decide on it.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: "pending", "approved" or "denied".
    status: Mapped[str] = mapped_column(String(10), default="pending")
    granted_scope: Mapped[str | None] = mapped_column(String(500))
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_id: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set when the device got its tokens: the device code works once.
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship()
    user: Mapped[User | None] = relationship()

    # --- Authlib's device credential protocol (rfc8628.DeviceCredentialMixin) ---
    def get_client_id(self) -> str:
        return self.client.client_id

    def get_scope(self) -> str:
        return self.granted_scope or ""

    def get_user_code(self) -> str:
        return self.user_code_hash

    def is_expired(self) -> bool:
        return self.expires_at <= clock.now()
