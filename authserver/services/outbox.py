"""The outbox: what this server sends outward, queued in the database in the same transaction
as its cause, and delivered in the background (SPEC "Mail and accounts").

A message has a ``kind`` ("mail" today; an OpenID Connect back-channel logout token POSTed to a
client's URL plugs in as another kind) and a JSON payload that the kind's deliverer reads; the
deliverers are handed to ``deliver_due`` by whoever runs it (``authserver/mail.py`` holds the
mail one), so this module knows nothing of SMTP or templates.

Delivery, in each worker of each node (``scheduled.py``) or from `authserver outbox send`:
claim due rows with a lease (one conditional UPDATE each, after ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL so concurrent deliverers pass over each other's rows instead of queueing), commit the
claim, deliver each outside any transaction, then record the outcome. A failure is tried again
after ``OUTBOX_FIRST_BACKOFF`` seconds, doubled each time with jitter, up to
``OUTBOX_MAX_BACKOFF``; a message still undelivered ``OUTBOX_GIVE_UP_AFTER`` seconds after it was
queued is given up. A worker that dies mid-delivery leaves its claim to lapse, so the message is
tried again (at least once; twice only if the process died between sending and recording).
The claims and outcomes commit on their own (one of the exceptions named in
``services/__init__.py``): they are the delivery's bookkeeping, not part of a request.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, and_, func, or_, select, update

from .. import clock
from ..extensions import db
from ..models import OutboxMessage
from ..security.key_wrapping import KeyUnavailable, key_ring, unwrap, wrap
from . import rows_matched

log = logging.getLogger("authserver.outbox")

#: A deliverer sends one message's payload or raises; ``config`` is the app's settings.
Deliverer = Callable[[dict, Mapping], None]
#: Bound into each sealed payload, so a sealed value cannot pass for a signing key or back.
_SEALED_AS = "outbox message"
#: How long a claim keeps other deliverers off a message: well over one SMTP conversation.
LEASE = timedelta(minutes=2)
#: Messages one deliverer claims at a time.
BATCH = 20
#: Each backoff is the doubled wait times a random factor in this range (jitter).
JITTER = (0.5, 1.0)


def enqueue(
    kind: str, recipient: str, payload: dict, expires_at: datetime | None = None
) -> OutboxMessage:
    """Queue a message in the caller's transaction (flushed, not committed): it is sent only
    if the change that caused it commits, and it is sent even if delivery fails for a while
    (until ``expires_at``, when given, or the general horizon)."""
    sealed = wrap(json.dumps(payload), _SEALED_AS, key_ring(current_app.config))
    message = OutboxMessage(
        kind=kind,
        recipient=recipient[:320],
        payload=sealed,
        next_attempt_at=clock.now(),
        expires_at=expires_at,
    )
    db.session.add(message)
    db.session.flush()
    return message


def queue_mail(to: str, template: str, **context: object) -> OutboxMessage:
    """A mail to ``to`` made at delivery from ``templates/mail/<template>.txt`` and ``.html``
    with ``context`` (plain JSON values)."""
    return enqueue("mail", to, {"to": to, "template": template, "context": context})


def payload_of(message: OutboxMessage) -> dict:
    if message.payload is None:
        raise KeyUnavailable(f"outbox message {message.id} has no payload any more")
    return json.loads(unwrap(message.payload, _SEALED_AS, key_ring(current_app.config)))


def backoff(attempts: int, config: Mapping) -> timedelta:
    """The wait after the ``attempts``-th failure: doubling from the first, capped, jittered."""
    first = float(config["OUTBOX_FIRST_BACKOFF"])
    longest = float(config["OUTBOX_MAX_BACKOFF"])
    wait = min(first * 2 ** min(attempts - 1, 30), longest)
    return timedelta(seconds=wait * random.uniform(*JITTER))  # noqa: S311 - not a secret


def _pending() -> ColumnElement[bool]:
    return and_(OutboxMessage.sent_at.is_(None), OutboxMessage.gave_up_at.is_(None))


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        _pending(),
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now),
    )


def claim_due(worker: str, limit: int = BATCH) -> list[int]:
    """Claim up to ``limit`` due messages for ``worker`` (flushed; the caller commits)."""
    now = clock.now()
    candidates = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed = []
    for message_id in db.session.scalars(candidates).all():
        # The condition again: on SQLite (no row locks) this UPDATE is what makes a claim
        # single; a row another deliverer claimed in the meantime matches nothing.
        statement = (
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, _due(now))
            .values(claimed_by=worker, claimed_until=now + LEASE)
        )
        if rows_matched(statement) == 1:
            claimed.append(message_id)
    return claimed


def _record(message_id: int, worker: str, **values: object) -> bool:
    """Write an outcome, if the claim is still ``worker``'s (its lease may have lapsed)."""
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.claimed_by == worker, _pending())
        .values(claimed_by=None, claimed_until=None, **values)
    )
    return rows_matched(statement) == 1


def record_sent(message_id: int, worker: str) -> bool:
    # The payload goes: a sent link has no business staying in the database.
    return _record(message_id, worker, sent_at=clock.now(), payload=None, last_error=None)


def record_failure(message: OutboxMessage, worker: str, error: str, config: Mapping) -> str:
    """A failed try: "retry" (when, by backoff) or "gave_up" (past the horizon)."""
    now = clock.now()
    attempts = message.attempts + 1
    horizon = message.created_at + timedelta(seconds=float(config["OUTBOX_GIVE_UP_AFTER"]))
    if message.expires_at is not None:
        horizon = min(horizon, message.expires_at)
    retry_at = now + backoff(attempts, config)
    if retry_at > horizon:
        _record(
            message.id,
            worker,
            attempts=attempts,
            gave_up_at=now,
            payload=None,
            last_error=error[:300],
        )
        return "gave_up"
    _record(message.id, worker, attempts=attempts, next_attempt_at=retry_at, last_error=error[:300])
    return "retry"


@dataclass
class DeliveryRun:
    """What one run did, per kind: sent, failed (will retry), gave up."""

    sent: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    gave_up: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.sent.values()) + sum(self.failed.values()) + sum(self.gave_up.values())


def deliver_due(deliverers: Mapping[str, Deliverer], worker: str | None = None) -> DeliveryRun:
    """Claim and deliver what is due, batch after batch until nothing is (commits)."""
    worker = worker or secrets.token_hex(8)
    config = current_app.config
    run = DeliveryRun()
    while True:
        claimed = claim_due(worker)
        db.session.commit()
        if not claimed:
            return run
        for message_id in claimed:
            _deliver_one(message_id, worker, deliverers, config, run)
            db.session.commit()


def _deliver_one(
    message_id: int,
    worker: str,
    deliverers: Mapping[str, Deliverer],
    config: Mapping,
    run: DeliveryRun,
) -> None:
    message = db.session.get_one(OutboxMessage, message_id)
    kind = message.kind
    deliverer = deliverers.get(kind)
    try:
        if deliverer is None:
            raise LookupError(f"no deliverer for outbox messages of kind {kind!r}")
        payload = payload_of(message)
        db.session.commit()  # no transaction stays open while the deliverer talks to the world
        # What a deliverer writes (a kind that queues more, such as a reset request) commits
        # with its outcome below, or not at all.
        deliverer(payload, config)
    except Exception as error:
        db.session.rollback()
        message = db.session.get_one(OutboxMessage, message_id)
        reason = describe_failure(error)
        outcome = record_failure(message, worker, reason, config)
        (run.gave_up if outcome == "gave_up" else run.failed)[kind] += 1
        log.warning(
            "outbox delivery failed (%s)",
            "given up" if outcome == "gave_up" else "will retry",
            extra={
                "fields": {
                    "message_id": message_id,
                    "kind": kind,
                    "attempts": message.attempts,
                    "error": reason,
                }
            },
        )
        return
    if record_sent(message_id, worker):
        run.sent[kind] += 1


def describe_failure(error: BaseException) -> str:
    """The exception's class and first line: what an operator needs, and never the payload
    (deliverers raise nothing that quotes it; SMTP answers quote the server)."""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:300]


@dataclass
class OutboxState:
    queued: int
    oldest_age: timedelta | None
    failing: int
    given_up: int


def state(since: timedelta = timedelta(days=1)) -> OutboxState:
    """For `authserver check` and the metrics: what waits, how long the oldest has, how many
    have failed at least once, and how many were given up in the last ``since``."""
    now = clock.now()
    queued, oldest, failing = db.session.execute(
        select(
            func.count(),
            func.min(OutboxMessage.created_at),
            func.count().filter(OutboxMessage.attempts > 0),
        ).where(_pending())
    ).one()
    given_up = db.session.scalar(
        select(func.count()).where(
            OutboxMessage.gave_up_at.is_not(None), OutboxMessage.gave_up_at > now - since
        )
    )
    if oldest is not None and oldest.tzinfo is None:  # an aggregate skips the column's type
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return OutboxState(
        queued=int(queued),
        oldest_age=max(now - oldest, timedelta(0)) if oldest is not None else None,
        failing=int(failing or 0),
        given_up=int(given_up or 0),
    )
