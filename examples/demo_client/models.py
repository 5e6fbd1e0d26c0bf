"""The demo client's own tables: its users, and the tokens of each signed-in browser."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


# The models subclass Base itself (its metadata is db's), which type checkers can follow;
# they would not follow ``db.Model``, a class made at run time.
db = SQLAlchemy(model_class=Base)


def _now() -> datetime:
    return datetime.now(UTC)


class User(Base):
    """A person who signed up through the authorization server.

    Known by the pair (issuer, subject), never by email: an email can change hands or be
    asserted by another issuer, while ``sub`` is stable and unique within its issuer
    (OpenID Connect Core §5.7).
    """

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_users_issuer_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool | None] = mapped_column(default=None)
    name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now)


class SignIn(Base):
    """One browser's sign-in: its tokens stay here, server-side; the cookie holds only ``id``."""

    __tablename__ = "sign_ins"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user: Mapped[User] = relationship()
    access_token: Mapped[str | None] = mapped_column(Text)
    #: Seconds since the epoch; None when the server did not say.
    expires_at: Mapped[int | None] = mapped_column(Integer)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    id_token: Mapped[str | None] = mapped_column(Text)
    #: What the person granted, from the token response (it may be less than was asked for).
    scope: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=_now)

    @property
    def scopes(self) -> set[str]:
        return set(self.scope.split())

    def store(self, token: dict, requested_scope: str, now: float) -> None:
        """Keep a token response; a refresh answer without a new refresh token keeps the old."""
        self.access_token = token.get("access_token")
        expires_in = token.get("expires_in")
        self.expires_at = int(now) + int(expires_in) if expires_in is not None else None
        if token.get("refresh_token"):
            self.refresh_token = token["refresh_token"]
        if token.get("id_token"):
            self.id_token = token["id_token"]
        # RFC 6749 §5.1: "scope" may be left out when it is exactly what was requested.
        scope = token.get("scope")
        self.scope = scope if isinstance(scope, str) else requested_scope
