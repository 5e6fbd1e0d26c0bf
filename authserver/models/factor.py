"""Second factors: a TOTP secret (encrypted at rest), recovery codes (hashed), passkeys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from .base import Base, UTCDateTime
from .user import User


class TotpCredential(Base):
    """A person's authenticator app (RFC 6238). One per person; it counts once confirmed."""

    __tablename__ = "totp_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    #: The base32 secret as ``security.key_wrapping`` stores it: encrypted under the KEK and
    #: bound to this person, never in the clear (a database copy must not yield codes).
    encrypted_secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: Set when one valid code proved the app holds the secret; until then it is not a factor.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The last 30-second time step a code was accepted for: a code is accepted once (replay
    #: refused), so only later steps count (read and written under the person's lock).
    last_used_step: Mapped[int | None] = mapped_column()

    user: Mapped[User] = relationship()


class RecoveryCode(Base):
    """One of ten single-use codes shown once at enrolment, kept only as a SHA-256 hash."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Passkey(Base):
    """A WebAuthn credential (a passkey) registered by a person, with the name they gave it."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: The credential id, base64url without padding (what the browser names it by).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    #: The COSE public key, base64url: public, so stored as it is.
    public_key: Mapped[str] = mapped_column(Text)
    sign_count: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(100))
    #: Backup eligible (a synced passkey): ``swk`` in ``amr``; else a device-bound ``hwk``.
    backup_eligible: Mapped[bool] = mapped_column(default=False)
    #: The relying-party ID it was registered for (a loopback issuer's host varies).
    rp_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
