"""The audit record: security events with time, actor, client, address and outcome.

Callers pass reasons and identifiers, never a secret, code, password or token.
"""

from __future__ import annotations

from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..models import AuditEvent, User

#: What a person sees of their own record ("recent activity"): their sign-ins and sign-up
#: attempts, and what they granted or took back; not every token an app was issued.
PERSONAL_EVENTS = (
    "login.succeeded",
    "login.failed",
    "signup.succeeded",
    "signup.duplicate",
    "consent.granted",
    "consent.changed",
    "consent.revoked",
    "consent.scope_revoked",
)
#: Refused OAuth requests, shown to the client's developer in the console.
REFUSAL_EVENTS = ("authorize.refused", "token.refused")


def _entry(
    event: str,
    outcome: str,
    user: User | None,
    user_id: int | None,
    client_id: str | None,
    actor: str | None,
    address: str | None,
    detail: dict,
) -> dict:
    if user is not None:
        user_id = user.id
    return {
        "at": clock.now(),
        "event": event,
        "outcome": outcome,
        "user_id": user_id,
        "client_id": client_id,
        "actor": (actor or (f"user:{user.subject}" if user is not None else "anonymous"))[:100],
        "address": (address or "")[:45] or None,
        "detail": {k: v for k, v in detail.items() if v is not None},
    }


def record(
    event: str,
    *,
    outcome: str = "success",
    user: User | None = None,
    user_id: int | None = None,
    client_id: str | None = None,
    actor: str | None = None,
    address: str | None = None,
    **detail: str | int | bool | None,
) -> AuditEvent:
    """Add one event to the unit of work; the request's commit stores it with what it records."""
    entry = AuditEvent(**_entry(event, outcome, user, user_id, client_id, actor, address, detail))
    db.session.add(entry)
    return entry


def record_refusal(
    event: str,
    *,
    user: User | None = None,
    client_id: str | None = None,
    actor: str | None = None,
    address: str | None = None,
    **detail: str | int | bool | None,
) -> None:
    """Store the record of a refused request at once, in a transaction of its own.

    A refused request changes nothing: its unit of work is rolled back (services flush, the
    view commits only on success). The record that it was refused must outlive that rollback,
    so it cannot ride in the request's transaction; and it goes through its own connection so
    that it neither commits nor disturbs whatever the request's session still holds.
    """
    values = _entry(event, "failure", user, None, client_id, actor, address, detail)
    with db.engine.begin() as connection:
        connection.execute(AuditEvent.__table__.insert().values(**values))


def events_about(
    user: User, limit: int = 50, events: tuple[str, ...] | None = PERSONAL_EVENTS
) -> list[AuditEvent]:
    """The newest events about ``user``'s account, for their own "recent activity"."""
    statement = select(AuditEvent).where(AuditEvent.user_id == user.id)
    if events is not None:
        statement = statement.where(AuditEvent.event.in_(events))
    return list(
        db.session.scalars(
            statement.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
        )
    )


def refusals_of(client_id: str, limit: int = 20) -> list[AuditEvent]:
    """The client's newest refused authorization and token requests, for its developer."""
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.client_id == client_id, AuditEvent.event.in_(REFUSAL_EVENTS))
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )
