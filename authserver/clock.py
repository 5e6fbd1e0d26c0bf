"""The one source of "now" for expiry rules, so tests can move time instead of sleeping."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
