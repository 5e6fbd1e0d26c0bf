"""The audit record: security events with time, actor, client, address and outcome.

Callers pass reasons and identifiers, never a secret, code, password or token.
"""

from __future__ import annotations

from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..models import AuditEvent, User


def record(
    event: str,
    *,
    outcome: str = "success",
    user: User | None = None,
    client_id: str | None = None,
    actor: str | None = None,
    address: str | None = None,
    **detail: str | int | bool | None,
) -> AuditEvent:
    """Add one event to the unit of work; the request's commit stores it with what it records."""
    entry = AuditEvent(
        at=clock.now(),
        event=event,
        outcome=outcome,
        user_id=user.id if user is not None else None,
        client_id=client_id,
        actor=actor or (f"user:{user.subject}" if user is not None else "anonymous"),
        address=(address or "")[:45] or None,
        detail={k: v for k, v in detail.items() if v is not None},
    )
    db.session.add(entry)
    return entry


def events_about(user: User, limit: int = 50) -> list[AuditEvent]:
    """The newest events about ``user``'s account, for their own "recent activity"."""
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.user_id == user.id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )
