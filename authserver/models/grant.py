from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock, policy
from .base import Base, UTCDateTime
from .client import Client
from .user import User


class AuthorizationCode(Base):
    """A one-time code, kept after redemption so that a replay can be recognised."""

    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    #: Whether the authorization request named the redirect URI (RFC 6749 §4.1.3).
    redirect_uri_given: Mapped[bool] = mapped_column(default=True)
    scope: Mapped[str] = mapped_column(String(500))
    nonce: Mapped[str | None] = mapped_column(String(500))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    session_id: Mapped[str | None] = mapped_column(String(64))
    #: The ``resource``s the request asked for (RFC 8707); empty: the default audience.
    resources: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    #: The login session's ``amr`` when the code was issued (the ID token's ``amr`` and ``acr``).
    amr: Mapped[str | None] = mapped_column(String(64))
    #: RFC 9449 §10: the authorization request's ``dpop_jkt``; the code is redeemed only with a
    #: DPoP proof made with that key.
    dpop_jkt: Mapped[str | None] = mapped_column(String(43))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship()
    user: Mapped[User] = relationship()

    # --- Authlib AuthorizationCodeMixin ---
    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri if self.redirect_uri_given else None

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> str:
        return policy.acr_for(self.get_amr())

    def get_amr(self) -> list[str]:
        return (self.amr or "pwd").split()


class Consent(Base):
    """What one user has granted one client; a later request within it skips the page."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(500))
    #: Resources (RFC 8707) other than the default audience the person let the app reach;
    #: a request naming another one shows the consent page again.
    resources: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)
    #: When a token was last issued to the client for the user (written at most once a minute).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship()
    user: Mapped[User] = relationship()
