"""Authorization codes: hashed, short-lived, single use (RFC 6749 §4.1.2, RFC 9700 §4.5)."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import select, update

from .. import clock
from ..extensions import db
from ..models import AuthorizationCode, Client, User
from ..security.secrets import hash_secret
from . import locks, rows_matched


def create_code(
    client: Client,
    user: User,
    code: str,
    redirect_uri: str,
    redirect_uri_given: bool,
    scope: str,
    ttl: int,
    auth_time: datetime,
    nonce: str | None = None,
    code_challenge: str | None = None,
    code_challenge_method: str | None = None,
    session_id: str | None = None,
    resources: list[str] | None = None,
    amr: str | None = None,
    dpop_jkt: str | None = None,
) -> AuthorizationCode:
    """Keep ``code`` (hashed) with everything it is bound to; the caller commits."""
    now = clock.now()
    record = AuthorizationCode(
        code_hash=hash_secret(code),
        client=client,
        user=user,
        redirect_uri=redirect_uri,
        redirect_uri_given=redirect_uri_given,
        scope=scope,
        nonce=nonce,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        auth_time=auth_time,
        session_id=session_id,
        resources=resources or [],
        amr=amr,
        dpop_jkt=dpop_jkt,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    db.session.add(record)
    return record


def find_code(code: str, client: Client) -> AuthorizationCode | None:
    """The code issued to ``client`` (redeemed or not, expired or not), else None."""
    if not code or len(code) > 200:
        return None
    return db.session.scalar(
        select(AuthorizationCode).where(
            AuthorizationCode.code_hash == hash_secret(code),
            AuthorizationCode.client_id == client.id,
        )
    )


def reread(code: AuthorizationCode) -> AuthorizationCode | None:
    """The code as committed now, or None if a revocation has discarded it meanwhile."""
    return db.session.scalar(
        select(AuthorizationCode)
        .where(AuthorizationCode.id == code.id)
        .execution_options(populate_existing=True)
    )


def nonce_used(client: Client, nonce: str) -> bool:
    """Whether ``client`` has had a code with this ``nonce`` before: a replayed request."""
    found = db.session.scalar(
        select(AuthorizationCode.id).where(
            AuthorizationCode.client_id == client.id, AuthorizationCode.nonce == nonce
        )
    )
    return found is not None


def is_expired(code: AuthorizationCode) -> bool:
    return code.expires_at <= clock.now()


def claim_code(code: AuthorizationCode) -> bool:
    """Mark the code redeemed; True for exactly one caller, however many race.

    One conditional UPDATE, not read-then-write: on PostgreSQL the second transaction waits for
    the first's row lock and then matches no row. The caller must commit (or roll back) the
    transaction this opens together with what it issues.
    """
    redeemed = rows_matched(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == code.id, AuthorizationCode.redeemed_at.is_(None))
        .values(redeemed_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return redeemed == 1


class Redeemed(enum.Enum):
    """What presenting a code at the token endpoint came to (``redeem``)."""

    UNKNOWN = "unknown"  # never issued, or to another client
    CLAIMED = "claimed"  # this redemption's, in the transaction that holds its tokens
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # discarded by the person's decision while this redemption waited
    PERSON_DISABLED = "person_disabled"  # its person's account is disabled (or gone)
    CLIENT_DISABLED = "client_disabled"  # the operator disabled the client
    REUSED = "reused"  # redeemed before: what it issued must be revoked (RFC 6749 §4.1.2)


def redeem(value: str, client: Client) -> tuple[Redeemed, AuthorizationCode | None]:
    """Claim the code ``value`` for ``client``; of concurrent redemptions exactly one claims it.

    The person's lock comes first (``locks``): a removal of access, a disabled account or client
    that commits before it leaves no code to claim, and one that commits after sees the grant
    this redemption makes. The caller commits the claim with the tokens, or rolls back.
    """
    code = find_code(value, client)
    if code is None:
        return Redeemed.UNKNOWN, None
    if code.redeemed_at is not None:
        return Redeemed.REUSED, code
    locked = locks.lock_for_issuance(code.user_id, client.id)
    if not locked.person_live:
        return Redeemed.PERSON_DISABLED, code
    if not locked.client_live:
        return Redeemed.CLIENT_DISABLED, code
    if claim_code(code):
        return (Redeemed.EXPIRED if is_expired(code) else Redeemed.CLAIMED), code
    if reread(code) is None:
        return Redeemed.WITHDRAWN, code  # discarded by a revocation while this waited
    return Redeemed.REUSED, code  # claimed by a concurrent redemption a moment ago


#: OIDC Core sets no limit; 255 is far beyond any real nonce (a hash or 128 random bits).
MAX_NONCE_LENGTH = 255
#: Ten digits of seconds is over 300 years: anything longer is no real limit.
MAX_AGE_DIGITS = 10


def nonce_problem(nonce: str | None) -> str | None:
    """Why ``nonce`` cannot be bound to a code and sent back unchanged, or None."""
    if nonce is None:
        return None
    if len(nonce) > MAX_NONCE_LENGTH:
        return f"'nonce' must be at most {MAX_NONCE_LENGTH} characters."
    if not nonce.isprintable():
        return "'nonce' must not contain control characters."
    return None


def max_age_problem(max_age: str | None) -> str | None:
    """Why ``max_age`` is not a number of seconds (OIDC Core §3.1.2.1), or None."""
    if max_age is None:
        return None
    if not (max_age.isascii() and max_age.isdigit()):
        return "'max_age' must be a number of seconds."
    if len(max_age) > MAX_AGE_DIGITS:
        return f"'max_age' must have at most {MAX_AGE_DIGITS} digits."
    return None
