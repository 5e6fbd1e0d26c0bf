from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .. import clock, policy
from .base import Base, UTCDateTime


class AuditEvent(Base):
    """One security-relevant event: who did what, to which account or client, from where.

    Never holds a secret, code, password or token; ``detail`` is a small JSON object of reasons.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    #: Dotted name, e.g. ``login.failed``, ``signup.duplicate``, ``consent.revoked``.
    event: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    #: The account the event is about; the record stays (unlinked) if the account is deleted.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: The client's public ``client_id`` (not a foreign key: the record outlives the client).
    client_id: Mapped[str | None] = mapped_column(String(policy.CLIENT_ID_MAX_LENGTH), index=True)
    #: Who acted: ``user:<sub>``, ``client:<client_id>``, ``operator`` or ``anonymous``.
    actor: Mapped[str] = mapped_column(String(100), default="anonymous")
    address: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    #: How many identical events this row stands for: repeated refusals are counted on one row
    #: (``audit.record_refusal``), so strangers cannot fill the record by repeating a request.
    repeats: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    #: When the latest of those repeats happened (``at`` is the first); None if it never repeated.
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
