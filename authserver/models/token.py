from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from .base import Base, UTCDateTime
from .client import Client
from .user import User


class TokenFamily(Base):
    """Every token descended from one grant: one code redemption or one client_credentials call.

    Revoking the family revokes all of them at once: a replayed code (RFC 6749 §4.1.2), a
    reused rotated refresh token (RFC 9700 §4.14.2), a withdrawn consent.
    """

    __tablename__ = "token_families"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    authorization_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization_codes.id", ondelete="SET NULL"), index=True
    )
    #: The scope the user granted; a refresh may narrow it for one access token, never widen it.
    scope: Mapped[str] = mapped_column(String(500))
    session_id: Mapped[str | None] = mapped_column(String(64), index=True)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The resources the person granted (RFC 8707); a refresh may narrow them, never widen
    #: them. Empty: the default audience.
    resources: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    #: RFC 9449 §5: the thumbprint of the DPoP key a public client's refresh tokens are bound
    #: to (a refresh needs a proof made with it); None: not bound.
    dpop_jkt: Mapped[str | None] = mapped_column(String(43))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship()
    user: Mapped[User | None] = relationship()


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(
        ForeignKey("token_families.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Set when this token was exchanged for its successor; presenting it again is reuse.
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The token this one was exchanged for.
    successor_id: Mapped[int | None] = mapped_column(
        ForeignKey("refresh_tokens.id", ondelete="SET NULL")
    )
    #: The answer that exchange gave, encrypted under a key derived from this token's value
    #: (which only its holder has): the same answer again for a retry within the window.
    retry_answer: Mapped[str | None] = mapped_column(Text)

    family: Mapped[TokenFamily] = relationship()
    successor: Mapped[RefreshToken | None] = relationship(remote_side=[id])

    # --- Authlib's refresh token protocol ---
    def check_client(self, client: Client) -> bool:
        return self.family.client_id == client.id

    def get_scope(self) -> str:
        """What the person granted; a refresh may narrow it, never widen it (RFC 6749 §6)."""
        return self.family.scope


class AccessToken(Base):
    """A record of each JWT issued, by ``jti``, so introspection and revocation can see it.

    It names its client and person itself, so a ``client_credentials`` token is one row: only
    tokens a person granted belong to a family (the grant that revoking ends).
    """

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[int | None] = mapped_column(
        ForeignKey("token_families.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(String(500))
    audience: Mapped[str] = mapped_column(String(500))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship()
    user: Mapped[User | None] = relationship()
    family: Mapped[TokenFamily | None] = relationship()
