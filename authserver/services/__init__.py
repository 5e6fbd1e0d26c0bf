"""The rules applied to the data: accounts, clients, consents, codes, tokens, sessions, keys.

Services know nothing of HTTP: no request, no templates. **They flush, they never commit**:
the one who handles the request (a view, the token endpoint, a CLI command) commits once when
it has succeeded, or rolls back, so a request either completes or changes nothing.

The exceptions, each because its write must outlive the request's rollback or is no part of
it: ``tokens.end_compromised_grant`` (a replayed code or refresh token revokes its grant, and
the request that revealed it is refused), ``audit.record_refusal`` (the record that a request
was refused), ``sessions.live_session`` (a session's last use, on a connection of its own),
``devices.note_poll`` (a device's poll, on a connection of its own: the poll is answered with
an error, yet the next one must see it for ``slow_down``), ``metadata_documents.client_for`` (a
client's row filled from its metadata document, and a failed fetch remembered: caches every
worker shares, no part of the request that needed them), ``cleanup`` (one transaction per
batch) and ``outbox.deliver_due`` (the delivery's claims and outcomes, in the background, never
part of a request).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable

from ..extensions import db


class ServiceError(ValueError):
    """A rule was broken by the caller's input; the message is safe to show to the user."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def rows_matched(statement: Executable) -> int:
    """Execute an UPDATE or DELETE in the session: how many rows its WHERE matched."""
    # Session.execute is typed as returning any Result; for a DML statement it is a
    # CursorResult, the one that has a rowcount.
    return cast(CursorResult[Any], db.session.execute(statement)).rowcount
