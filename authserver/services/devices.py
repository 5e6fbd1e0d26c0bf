"""Device authorizations (RFC 8628): codes hashed, user codes bound to the person who typed
them, the decision recorded once, the device code redeemed once."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from .. import clock, policy
from ..extensions import db
from ..models import Client, DeviceAuthorization, User
from ..security.secrets import hash_secret
from . import locks, rows_matched

PENDING, APPROVED, DENIED = "pending", "approved", "denied"


def new_user_code() -> str:
    """8 letters from ``policy.USER_CODE_ALPHABET``, from the system's CSPRNG."""
    alphabet = policy.USER_CODE_ALPHABET
    return "".join(secrets.choice(alphabet) for _ in range(policy.USER_CODE_LENGTH))


def start(
    client: Client, device_code: str, user_code: str, scope: str, resources: list[str]
) -> DeviceAuthorization:
    """Keep a new device authorization (both codes hashed); flushed, the caller commits."""
    now = clock.now()
    record = DeviceAuthorization(
        device_code_hash=hash_secret(device_code),
        user_code_hash=hash_secret(user_code),
        client_id=client.id,
        scope=scope,
        resources=resources,
        created_at=now,
        expires_at=now + timedelta(seconds=policy.DEVICE_CODE_TTL),
        interval=policy.DEVICE_POLL_INTERVAL,
        status=PENDING,
    )
    db.session.add(record)
    db.session.flush()
    return record


def find_by_device_code(device_code: str | None, client: Client) -> DeviceAuthorization | None:
    """The authorization of ``device_code`` issued to ``client``; another client's is None."""
    if not device_code or len(device_code) > 200:
        return None
    return db.session.scalar(
        select(DeviceAuthorization).where(
            DeviceAuthorization.device_code_hash == hash_secret(device_code),
            DeviceAuthorization.client_id == client.id,
        )
    )


class Entered(enum.Enum):
    """What typing a user code came to (``enter_user_code``)."""

    BOUND = "bound"  # this person's now (or already): the consent page comes next
    UNKNOWN = "unknown"  # malformed, never issued, expired, decided, or someone else's


def typed_code(typed: str | None) -> str:
    """The user code as typed, normalised (``policy.normalize_user_code``); empty if none."""
    return policy.normalize_user_code(typed) or ""


def live_by_user_code(typed: str | None) -> DeviceAuthorization | None:
    """The pending, unexpired authorization whose user code was typed, else None."""
    code = policy.normalize_user_code(typed)
    if code is None:
        return None
    found = db.session.scalar(
        select(DeviceAuthorization).where(DeviceAuthorization.user_code_hash == hash_secret(code))
    )
    if found is None or found.status != PENDING or found.expires_at <= clock.now():
        return None
    return found


def enter_user_code(typed: str | None, person: User) -> DeviceAuthorization | None:
    """Bind the authorization the person typed the user code of to them: one conditional
    UPDATE, so of two people typing the same code only the first gets it. The same person may
    type it again. None (the same answer for every case, telling a guesser nothing) when it is
    unknown, expired, decided, or bound to someone else."""
    found = live_by_user_code(typed)
    if found is None:
        return None
    if found.user_id == person.id:
        return found
    bound = rows_matched(
        update(DeviceAuthorization)
        .where(DeviceAuthorization.id == found.id, DeviceAuthorization.user_id.is_(None))
        .values(user_id=person.id)
        .execution_options(synchronize_session=False)
    )
    if bound != 1:
        return None
    found.user_id = person.id
    return found


def bound_to(typed: str | None, person: User) -> DeviceAuthorization | None:
    """The live authorization of this user code, only if the person bound it to themselves."""
    found = live_by_user_code(typed)
    if found is None or found.user_id != person.id:
        return None
    return found


def decide(
    authorization: DeviceAuthorization,
    person: User,
    granted_scope: str | None,
    auth_time: datetime,
    session_id: str,
) -> bool:
    """Record the person's answer (None: denied), once: True for exactly one decision."""
    values = {
        "status": APPROVED if granted_scope else DENIED,
        "granted_scope": granted_scope,
        "auth_time": auth_time,
        "session_id": session_id,
        "decided_at": clock.now(),
    }
    decided = rows_matched(
        update(DeviceAuthorization)
        .where(
            DeviceAuthorization.id == authorization.id,
            DeviceAuthorization.user_id == person.id,
            DeviceAuthorization.status == PENDING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return decided == 1


def note_poll(authorization: DeviceAuthorization) -> bool:
    """Note this poll; True if it came too soon (``slow_down``: the interval grows by 5 s).

    Its own short transaction: a poll is answered with an error (``authorization_pending``),
    and the token endpoint rolls errors back, yet the next poll must see this one.
    """
    now = clock.now()
    too_fast = policy.polls_too_fast(now, authorization.last_polled_at, authorization.interval)
    interval = authorization.interval + (policy.SLOW_DOWN_STEP if too_fast else 0)
    with db.engine.begin() as connection:
        connection.execute(
            update(DeviceAuthorization)
            .where(DeviceAuthorization.id == authorization.id)
            .values(last_polled_at=now, interval=interval)
        )
    return too_fast


class Redeemed(enum.Enum):
    CLAIMED = "claimed"
    REUSED = "reused"  # the device code was redeemed before
    WITHDRAWN = "withdrawn"  # the person or the client was disabled meanwhile


def redeem(authorization: DeviceAuthorization) -> Redeemed:
    """Claim an approved authorization's tokens: of concurrent polls exactly one claims it.

    The person's lock first (``locks``), then one conditional UPDATE; the caller commits the
    claim together with the tokens, or rolls both back.
    """
    if authorization.redeemed_at is not None or authorization.user_id is None:
        return Redeemed.REUSED
    if not locks.lock_for_issuance(authorization.user_id, authorization.client_id).may_issue:
        return Redeemed.WITHDRAWN
    claimed = rows_matched(
        update(DeviceAuthorization)
        .where(
            DeviceAuthorization.id == authorization.id,
            DeviceAuthorization.status == APPROVED,
            DeviceAuthorization.redeemed_at.is_(None),
        )
        .values(redeemed_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return Redeemed.CLAIMED if claimed == 1 else Redeemed.REUSED
