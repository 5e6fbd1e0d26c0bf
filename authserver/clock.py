"""The one source of "now" for every rule and every timestamp stored.

The app's ``CLOCK`` setting (a function returning an aware UTC datetime) is asked when there is
an app, so tests move time with one fixture instead of sleeping or patching; outside an app (a
script, a module import) it is the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, has_app_context


def wall_clock() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    if has_app_context():
        return current_app.config["CLOCK"]()
    return wall_clock()
