from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .. import clock
from .base import Base, UTCDateTime


class OutboxMessage(Base):
    """Something to send outward (a mail; later a back-channel logout token), written in the
    transaction of the change that caused it and delivered in the background
    (``services/outbox.py``).

    ``payload`` is the kind's own JSON, sealed under the key-encryption key: a mail carries a
    one-time link, which a copy of the database must not be able to use. It is erased once the
    message is sent or given up.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "sent_at", "gave_up_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Which deliverer sends it: "mail" (``services/outbox.DELIVERERS``).
    kind: Mapped[str] = mapped_column(String(40))
    #: Where it goes, for the operator's eyes (an address, a client's URL); never a secret.
    recipient: Mapped[str] = mapped_column(String(320))
    payload: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: A deliverer's claim: nobody else tries it before ``claimed_until`` (a lease, so a worker
    #: that dies mid-send does not keep it forever).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gave_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Given up at this time even if ``OUTBOX_GIVE_UP_AFTER`` is further off: a back-channel
    #: logout token is worthless after its ``exp``. None: only the general horizon applies.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Why the last try failed (no secret: the SMTP server's answer or the exception's class).
    last_error: Mapped[str | None] = mapped_column(String(300))
