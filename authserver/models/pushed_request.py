from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import clock
from .base import Base, UTCDateTime
from .client import Client


class PushedRequest(Base):
    """An authorization request pushed to ``/oauth/par`` (RFC 9126): found by the hash of its
    ``request_uri``, usable once (``used_at``), until ``expires_at``, by its client only."""

    __tablename__ = "pushed_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_uri_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    #: The pushed parameters, each name once (what the authorization endpoint reads).
    parameters: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client] = relationship()
