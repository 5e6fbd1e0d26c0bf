"""The audit record: security events with time, actor, client, address and outcome.

Callers pass reasons and identifiers, never a secret, code, password or token.

Refused requests are written by whoever sends them, so what a stranger can write is bounded:
an identical refusal (same client, event, actor, error and reason class) within
``REFUSAL_WINDOW`` adds one to the count of the row already there; the free text a refusal keeps
is sanitised and short; and requests that proved nothing about their sender (``ANONYMOUS``) add
at most ``ANONYMOUS_REFUSALS_PER_WINDOW`` rows per client per window, counting the rest on one
row. A client's developer sees the refusals of requests that did prove who sent them (the
client's own secret, or a person signed in here) apart from those, where anonymous ones cannot
push them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, func, insert, select, update

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
    *("password.changed", "password.reset", "password.reset_requested"),
    *("email.verified", "email.change_requested", "email.changed"),
)
#: What /account/security lists: how the account was signed in to and what changed its keys.
SECURITY_EVENTS = (
    "login.succeeded",
    "login.failed",
    "signup.duplicate",
    "sessions.ended",
    "password.changed",
    "password.reset",
    "password.reset_requested",
    "email.verified",
    "email.change_requested",
    "email.changed",
)
#: Refused OAuth requests, shown to the client's developer in the console.
REFUSAL_EVENTS = ("authorize.refused", "token.refused", "logout.refused")
#: The actor of a request that proved nothing about who sent it.
ANONYMOUS = "anonymous"
#: Identical refusals within this window share one row; it is also the cap's window.
REFUSAL_WINDOW = timedelta(hours=1)
#: Rows that requests proving nothing may add to one client's record per window.
ANONYMOUS_REFUSALS_PER_WINDOW = 20
#: The reason class of the row that counts refusals beyond that cap.
NOT_ITEMISED = "more refusals than the record lists one by one"
#: How much of a refusal's reason is kept; and of a URI it quotes (someone else's text).
REASON_LENGTH = 160
QUOTED_URI_LENGTH = 60


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
        "actor": (actor or (f"user:{user.subject}" if user is not None else ANONYMOUS))[:100],
        "address": (address or "")[:45] or None,
        "detail": {k: v for k, v in detail.items() if v is not None},
    }


def entry(
    event: str,
    *,
    outcome: str = "success",
    client_id: str | None = None,
    actor: str | None = None,
    **detail: str | int | bool | None,
) -> dict:
    """The column values of one event, for a caller that writes it on a connection of its own
    (``metadata_documents``: a cache filled outside the request's unit of work)."""
    return _entry(event, outcome, None, None, client_id, actor, None, detail)


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


def sanitised(text: str, limit: int) -> str:
    """``text`` as one printable line of at most ``limit`` characters: control and format
    characters (newlines, bidirectional overrides) become "?", and a cut is marked "…"."""
    line = "".join(character if character.isprintable() else "?" for character in text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def quoted_uri(uri: str) -> str:
    """A URI someone sent, as a refusal's reason may quote it: a short, sanitised prefix."""
    return sanitised(uri, QUOTED_URI_LENGTH)


def reason_class(reason: str) -> str:
    """What identical refusals share: a reason's fixed part, before any ``: particulars``
    (the redirect URI, the scope) that the sender chose."""
    return reason.partition(": ")[0][:64]


def record_refusal(
    event: str,
    *,
    client_id: str,
    error: str,
    reason: str,
    user: User | None = None,
    actor: str | None = None,
    address: str | None = None,
    **detail: str | int | bool | None,
) -> None:
    """Store the record of a refused request at once, in a transaction of its own.

    A refused request changes nothing: its unit of work is rolled back (services flush, the
    view commits only on success). The record that it was refused must outlive that rollback,
    so it cannot ride in the request's transaction; and it goes through its own connection so
    that it neither commits nor disturbs whatever the request's session still holds.

    A repeat within ``REFUSAL_WINDOW`` is counted on its row (one ``UPDATE``); a new refusal
    from an ``ANONYMOUS`` actor is inserted only while the client has fewer than
    ``ANONYMOUS_REFUSALS_PER_WINDOW`` such rows in the window, else counted on the window's
    ``NOT_ITEMISED`` row. Two workers may both find no row to count on and both insert: an
    occasional duplicate row, never an error.
    """
    reason = sanitised(reason, REASON_LENGTH)
    values = _entry(
        event,
        "failure",
        user,
        None,
        client_id,
        actor,
        address,
        {
            "error": sanitised(error, 64),
            "reason": reason,
            "reason_class": reason_class(reason),
            **detail,
        },
    )
    since = values["at"] - REFUSAL_WINDOW
    with db.engine.begin() as connection:
        if _count_repeat(connection, values, since):
            return
        if values["actor"] == ANONYMOUS and _anonymous_rows(connection, client_id, since) >= (
            ANONYMOUS_REFUSALS_PER_WINDOW
        ):
            values["detail"] = {"reason": NOT_ITEMISED, "reason_class": NOT_ITEMISED}
            if _count_repeat(connection, values, since):
                return
        connection.execute(insert(AuditEvent.__table__).values(**values, repeats=1))


def _count_repeat(connection: Connection, values: dict, since: datetime) -> bool:
    """Add one to the count of the newest row in the window that ``values`` repeats."""
    table = AuditEvent.__table__
    conditions = [
        table.c.client_id == values["client_id"],
        table.c.event == values["event"],
        table.c.actor == values["actor"],
        table.c.at >= since,
        table.c.detail["reason_class"].as_string() == values["detail"]["reason_class"],
    ]
    if "error" in values["detail"]:
        conditions.append(table.c.detail["error"].as_string() == values["detail"]["error"])
    newest = (
        select(table.c.id).where(*conditions).order_by(table.c.id.desc()).limit(1)
    ).scalar_subquery()
    result = connection.execute(
        update(table)
        .where(table.c.id == newest)
        .values(repeats=table.c.repeats + 1, last_at=values["at"])
    )
    return result.rowcount > 0


def _anonymous_rows(connection: Connection, client_id: str, since: datetime) -> int:
    table = AuditEvent.__table__
    return connection.execute(
        select(func.count()).where(
            table.c.client_id == client_id,
            table.c.event.in_(REFUSAL_EVENTS),
            table.c.actor == ANONYMOUS,
            table.c.at >= since,
        )
    ).scalar_one()


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


def recent_code_exchanges_used_pkce(client_id: str, limit: int) -> list[bool]:
    """For the client's latest ``limit`` code exchanges that recorded it, whether each used
    PKCE (``token.issued`` rows with ``grant_type=authorization_code``, newest first). Rows
    written before the record kept it say nothing and are skipped."""
    table = AuditEvent.__table__
    rows = db.session.execute(
        select(table.c.detail)
        .where(
            table.c.client_id == client_id,
            table.c.event == "token.issued",
            table.c.detail["grant_type"].as_string() == "authorization_code",
        )
        .order_by(table.c.id.desc())
        .limit(limit)
    ).scalars()
    return [bool(detail["pkce"]) for detail in rows if "pkce" in detail]


@dataclass(frozen=True)
class Refusals:
    """A client's newest refusals, in two lists so that neither pushes the other out."""

    #: Requests that proved who sent them: the client's own secret, or a person signed in here.
    proven: list[AuditEvent]
    #: Requests that proved nothing: anyone can send them naming the client.
    anonymous: list[AuditEvent]


def refusals_of(client_id: str, limit: int = 20) -> Refusals:
    """The client's newest refused authorization and token requests, for its developer:
    up to ``limit`` of each kind, the most recently repeated first."""

    def newest(sender: ColumnElement[bool]) -> list[AuditEvent]:
        return list(
            db.session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.client_id == client_id,
                    AuditEvent.event.in_(REFUSAL_EVENTS),
                    sender,
                )
                .order_by(
                    func.coalesce(AuditEvent.last_at, AuditEvent.at).desc(), AuditEvent.id.desc()
                )
                .limit(limit)
            )
        )

    return Refusals(
        proven=newest(AuditEvent.actor != ANONYMOUS),
        anonymous=newest(AuditEvent.actor == ANONYMOUS),
    )
