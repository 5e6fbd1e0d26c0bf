"""Queries on events, every one scoped to the owner: no function here can reach another
user's event, so a view cannot forget the check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from .extensions import db
from .models import Event


def list_events(
    owner_sub: str, *, limit: int, after: tuple[datetime, int] | None
) -> tuple[list[Event], bool]:
    """Up to ``limit`` of the owner's events in (starts_at, id) order after the cursor position,
    and whether more follow."""
    query = select(Event).where(Event.owner_sub == owner_sub)
    if after is not None:
        starts_at, event_id = after
        # Spelled out rather than a row-value comparison, which not every SQLite has.
        query = query.where(
            or_(
                Event.starts_at > starts_at,
                and_(Event.starts_at == starts_at, Event.id > event_id),
            )
        )
    query = query.order_by(Event.starts_at, Event.id).limit(limit + 1)
    rows = list(db.session.scalars(query))
    return rows[:limit], len(rows) > limit


def get_event(owner_sub: str, event_id: int) -> Event | None:
    return db.session.scalars(
        select(Event).where(Event.id == event_id, Event.owner_sub == owner_sub)
    ).first()


def create_event(owner_sub: str, values: dict[str, Any], now: datetime) -> Event:
    event = Event(owner_sub=owner_sub, created_at=now, updated_at=now, **values)
    db.session.add(event)
    db.session.commit()
    return event


def update_event(event: Event, changes: dict[str, Any], now: datetime) -> Event:
    for name, value in changes.items():
        setattr(event, name, value)
    if changes:
        event.updated_at = now
    db.session.commit()
    return event


def delete_event(event: Event) -> None:
    db.session.delete(event)
    db.session.commit()
