"""Queries on events, every one scoped to the owner: no function here can reach another
user's event, so a view cannot forget the check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select

from .events import EventLike
from .extensions import db
from .models import Event
from .reads import Read

_EVENTS = Event.__table__
_STARTS_AT, _ID = _EVENTS.c.starts_at, _EVENTS.c.id
_AFTER_STARTS_AT = bindparam("after_starts_at", type_=_STARTS_AT.type)
#: The list query, built once: putting a statement together costs more than running it.
_FIRST_PAGE = (
    select(*(column for column in _EVENTS.c if column.name != "owner_sub"))
    .where(_EVENTS.c.owner_sub == bindparam("owner_sub"))
    .order_by(_STARTS_AT, _ID)
    .limit(bindparam("rows"))
)
_LIST_FIRST_PAGE = Read(_FIRST_PAGE, "EventRow")
# After a cursor position. Spelled out rather than a row-value comparison, which not every
# SQLite has.
_LIST_AFTER = Read(
    _FIRST_PAGE.where(
        or_(
            _STARTS_AT > _AFTER_STARTS_AT,
            and_(_STARTS_AT == _AFTER_STARTS_AT, _ID > bindparam("after_id")),
        )
    ),
    "EventRow",
)


def list_events(
    owner_sub: str, *, limit: int, after: tuple[datetime, int] | None
) -> tuple[list[EventLike], bool]:
    """Up to ``limit`` of the owner's events in (starts_at, id) order after the cursor position,
    and whether more follow. Rows, not ORM objects: the page is only read, never changed."""
    params: dict[str, Any] = {"owner_sub": owner_sub, "rows": limit + 1}
    if after is None:
        return _LIST_FIRST_PAGE.page(db.engine, params, limit)
    params["after_starts_at"], params["after_id"] = after
    return _LIST_AFTER.page(db.engine, params, limit)


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
