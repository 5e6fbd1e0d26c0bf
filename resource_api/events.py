"""The rules for events as plain functions: what a valid event body is, how an event looks as
JSON, and how list cursors and page sizes are read. No request, no database."""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any, Protocol

from .errors import ValidationError
from .models import TITLE_MAX_LENGTH

DESCRIPTION_MAX_LENGTH = 5000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
WRITABLE_FIELDS = ("title", "description", "starts_at", "ends_at")
READ_ONLY_FIELDS = ("id", "created_at", "updated_at")
#: "2025-06-01T09:30:00+02:00" is 25 characters; anything much longer is not a timestamp.
_TIMESTAMP_MAX_LENGTH = 64
#: Database ids are 32-bit integers on every backend we run on.
MAX_ID = 2**31 - 1
_PAGE_SIZE = re.compile(r"[0-9]{1,9}")
_TIMESTAMP_FAULT = "must be an ISO 8601 date-time with a time zone, e.g. 2025-06-01T09:30:00Z"


class EventLike(Protocol):
    id: int
    title: str
    description: str | None
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    updated_at: datetime


def parse_new_event(body: object) -> dict[str, Any]:
    """The values of a new event; raises ValidationError naming every field at fault."""
    fields = _object_fields(body)
    faults: dict[str, str] = {}
    for name in ("title", "starts_at", "ends_at"):
        if name not in fields:
            faults[name] = "is required"
    values = _parse_fields(fields, faults)
    values.setdefault("description", None)
    _check_order(values.get("starts_at"), values.get("ends_at"), faults)
    if faults:
        raise ValidationError(faults)
    return values


def parse_event_changes(body: object, current: EventLike) -> dict[str, Any]:
    """The changes a PATCH asks for, checked together with the event's current times."""
    fields = _object_fields(body)
    faults: dict[str, str] = {}
    values = _parse_fields(fields, faults)
    if "starts_at" in values or "ends_at" in values:
        starts_at = values.get("starts_at", current.starts_at)
        ends_at = values.get("ends_at", current.ends_at)
        _check_order(starts_at, ends_at, faults)
    if faults:
        raise ValidationError(faults)
    return values


def event_json(event: EventLike) -> dict[str, Any]:
    return {
        "id": event.id,
        "title": event.title,
        "description": event.description,
        "starts_at": format_instant(event.starts_at),
        "ends_at": format_instant(event.ends_at),
        "created_at": format_instant(event.created_at),
        "updated_at": format_instant(event.updated_at),
    }


def format_instant(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, the form clients parse most reliably."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_page_size(raw: str | None) -> int:
    """``?limit=``: 50 by default; more than 100 is served as 100 (as GitHub's per_page is)."""
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not _PAGE_SIZE.fullmatch(raw) or int(raw) < 1:
        raise ValidationError({"limit": f"must be an integer from 1 to {MAX_PAGE_SIZE}"})
    return min(int(raw), MAX_PAGE_SIZE)


def encode_cursor(event: EventLike) -> str:
    """An opaque position after ``event`` in (starts_at, id) order."""
    raw = json.dumps([format_instant(event.starts_at), event.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[datetime, int]:
    """The position a cursor from ``encode_cursor`` stands for; ValidationError otherwise."""
    fault = ValidationError({"cursor": "is not a cursor this API returned"})
    if len(raw) > 200:
        raise fault
    try:
        decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        starts_at, event_id = json.loads(decoded)
        instant = _parse_instant(starts_at)
    except (binascii.Error, ValueError, TypeError) as error:
        raise fault from error
    if isinstance(event_id, bool) or not isinstance(event_id, int) or not 0 <= event_id <= MAX_ID:
        raise fault
    return instant, event_id


# -- the rules for each field ----------------------------------------------------------------


def _object_fields(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    faults = {}
    for name in body:
        if name in READ_ONLY_FIELDS:
            faults[name] = "is read-only"
        elif name not in WRITABLE_FIELDS:
            faults[name] = "is not a field of an event"
    if faults:
        raise ValidationError(faults)
    return body


def _parse_fields(fields: dict[str, Any], faults: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in fields.items():
        try:
            if name == "title":
                title = _text(value, TITLE_MAX_LENGTH, multiline=False).strip()
                if not title:
                    raise ValueError("must not be empty")
                values[name] = title
            elif name == "description":
                values[name] = (
                    None if value is None else _text(value, DESCRIPTION_MAX_LENGTH, multiline=True)
                )
            else:
                values[name] = _parse_instant(value)
        except ValueError as error:
            faults[name] = str(error)
    return values


def _text(value: object, max_length: int, *, multiline: bool) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    allowed = "\t\n\r" if multiline else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        # NUL in particular: PostgreSQL refuses it in text, which must not become a 500.
        raise ValueError("must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate, from a "\ud800" JSON escape
        raise ValueError("must be valid Unicode text") from error
    return value


def _parse_instant(value: object) -> datetime:
    if not isinstance(value, str) or len(value) > _TIMESTAMP_MAX_LENGTH:
        raise ValueError(_TIMESTAMP_FAULT)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise ValueError(_TIMESTAMP_FAULT) from error
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        # A wall-clock time without a zone is no instant: the API cannot guess whose clock.
        raise ValueError(_TIMESTAMP_FAULT)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as error:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError("is out of range") from error


def _check_order(starts_at: datetime | None, ends_at: datetime | None, faults: dict) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        faults["ends_at"] = "must be after starts_at"
