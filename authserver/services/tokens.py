"""Issuing, rotating and revoking tokens: who gets what, independent of HTTP."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

from flask import current_app
from joserfc import jws, jwt
from joserfc.errors import JoseError
from sqlalchemy import ColumnElement, bindparam, delete, insert, select, update
from sqlalchemy.orm import joinedload

from .. import clock, policy
from ..extensions import db
from ..models import AccessToken, AuthorizationCode, Client, RefreshToken, TokenFamily, User
from ..policy import Lifetimes
from ..scopes import scope_list
from ..security.secrets import hash_secret, new_secret, seal, unseal
from ..security.signing import ALGORITHM, sign_jwt
from . import audit, locks, rows_matched
from .claims import user_claims
from .clients import find_client
from .keys import active_key, find_published_key, private_key


def start_family(
    client: Client,
    user: User,
    scope: str,
    authorization_code: AuthorizationCode | None = None,
    auth_time: datetime | None = None,
    session_id: str | None = None,
    resources: list[str] | None = None,
) -> TokenFamily:
    """The grant a person gave one client: every token it issues descends from it."""
    family = TokenFamily(
        resources=resources or [],
        client=client,
        user=user,
        scope=scope,
        authorization_code_id=authorization_code.id if authorization_code else None,
        session_id=session_id,
        auth_time=auth_time,
        created_at=clock.now(),
    )
    db.session.add(family)
    return family


def access_token_claims(
    client: Client,
    user: User | None,
    scope: str,
    auth_time: datetime | None,
    life: Lifetimes,
    now: datetime,
    audience: list[str] | None = None,
) -> dict:
    """The claims of an RFC 9068 JWT access token (§2.2), identity claims as the scope allows;
    ``aud`` is ``audience`` (RFC 8707), else the default audience."""
    config = current_app.config
    issued = int(now.timestamp())
    claims = {
        "iss": config["ISSUER"],
        "sub": user.subject if user is not None else client.client_id,
        "aud": policy.audience_claim(audience) if audience else config["DEFAULT_AUDIENCE"],
        "client_id": client.client_id,
        "scope": scope,
        "iat": issued,
        "exp": issued + life.access_token,
        "jti": new_secret(16),
    }
    if auth_time is not None:
        claims["auth_time"] = int(auth_time.timestamp())
    if user is not None:
        # RFC 9068 §2.2.3.1: identity claims the scope allows, so the resource API can show
        # a profile without reading our database.
        identity = user_claims(user, scope_list(scope))
        identity.pop("sub")
        claims.update(identity)
    return claims


def sign_access_token(claims: dict) -> str:
    return sign_jwt(claims, private_key(active_key()), typ="at+jwt")


def record_access_token(
    claims: dict, client: Client, user: User | None, family: TokenFamily | None
) -> None:
    """Keep the token's ``jti`` so introspection and revocation can find it (one row).

    Written by one INSERT statement rather than as a new object of the session: a token endpoint
    that writes nothing else (client_credentials) then commits without a unit-of-work flush,
    which cost more than signing the token.
    """
    if family is not None and family.id is None:
        db.session.flush()  # a grant started by this request: its row gives the id
    db.session.connection().execute(
        _INSERT_ACCESS_TOKEN,
        {
            "jti": claims["jti"],
            "client_id": client.id,
            "user_id": user.id if user is not None else None,
            "family_id": family.id if family is not None else None,
            "scope": claims["scope"],
            "audience": stored_audience(claims["aud"]),
            "issued_at": datetime.fromtimestamp(claims["iat"], UTC),
            "expires_at": datetime.fromtimestamp(claims["exp"], UTC),
        },
    )


#: Built once, and run on the session's connection: an ORM ``insert(AccessToken).values(...)``
#: made per request cost as much again as the row's INSERT itself.
_INSERT_ACCESS_TOKEN = insert(AccessToken.__table__)


def stored_audience(aud: str | list[str]) -> str:
    """The ``aud`` claim as the ``access_tokens.audience`` column keeps it: space-separated
    (resource identifiers are URIs, which hold no space)."""
    return aud if isinstance(aud, str) else " ".join(aud)


def audience_of(record: AccessToken) -> str | list[str]:
    """The ``aud`` of a recorded access token, as the JWT carried it."""
    return policy.audience_claim(record.audience.split())


def record_refresh_token(value: str, family: TokenFamily, life: Lifetimes) -> RefreshToken:
    """Keep only the refresh token's hash; it never outlives its family's absolute end."""
    now = clock.now()
    record = RefreshToken(
        family=family,
        token_hash=hash_secret(value),
        created_at=now,
        expires_at=policy.refresh_token_expiry(now, family.created_at, life),
    )
    db.session.add(record)
    return record


def judge(token: RefreshToken, life: Lifetimes) -> policy.RefreshVerdict:
    family = token.family
    return policy.judge_refresh_token(
        now=clock.now(),
        rotated_at=token.rotated_at,
        expires_at=token.expires_at,
        family_revoked_at=family.revoked_at,
        family_started=family.created_at,
        life=life,
        successor_unused=token.successor is not None and token.successor.rotated_at is None,
    )


def keep_answer_for_retry(token: RefreshToken, presented: str, answer: dict) -> None:
    """Remember what exchanging ``token`` answered, readable only with its value."""
    token.retry_answer = seal(answer, presented, _server_key())


def answer_for_retry(token: RefreshToken, presented: str) -> dict | None:
    if not token.retry_answer:
        return None
    return unseal(token.retry_answer, presented, _server_key())


def _server_key() -> str | bytes:
    key = current_app.secret_key
    if key is None:  # load_config always sets one; never seal with no server key
        raise RuntimeError("SECRET_KEY is not set")
    return key


def end_compromised_grant(
    families: list[TokenFamily], reason: str | None = None, address: str | None = None
) -> None:
    """A code or refresh token came back after its one use: one of two holders is an attacker,
    so the whole grant ends (RFC 6749 §4.1.2, RFC 9700 §4.14.2).

    The one service that commits itself: the request it happens in is then refused, and its own
    unit of work (rolled back first) must not take the revocation down with it.
    """
    ids = [family.id for family in families]
    db.session.rollback()
    for family in db.session.scalars(select(TokenFamily).where(TokenFamily.id.in_(ids))):
        revoke_family(family)
        audit.record(
            "token.reuse_detected",
            outcome="failure",
            user_id=family.user_id,
            client_id=family.client.client_id,
            actor=f"client:{family.client.client_id}",
            address=address,
            reason=reason,
        )
    db.session.commit()


def find_refresh_token(value: str | None) -> RefreshToken | None:
    if not value or len(value) > 200:
        return None
    return _load_refresh_token(RefreshToken.token_hash == hash_secret(value))


def reread_refresh_token(token: RefreshToken) -> RefreshToken | None:
    """``token`` as committed now, its grant and successor included: read again after the
    person's lock (``locks``), since a revocation may have committed while it was awaited."""
    return _load_refresh_token(RefreshToken.id == token.id, fresh=True)


def _load_refresh_token(condition, fresh: bool = False) -> RefreshToken | None:
    # One query for what a refresh or an introspection reads: the token, its grant, the person,
    # the client, the successor.
    family = joinedload(RefreshToken.family)
    statement = (
        select(RefreshToken)
        .where(condition)
        .options(
            family.joinedload(TokenFamily.user),
            family.joinedload(TokenFamily.client),
            joinedload(RefreshToken.successor),
        )
    )
    if fresh:
        statement = statement.execution_options(populate_existing=True)
    return db.session.scalar(statement)


class Presented(enum.Enum):
    """What presenting a refresh token came to (``present_refresh_token``)."""

    UNKNOWN = "unknown"  # no such token, or another client's: invalid_grant, nothing changes
    ROTATE = "rotate"  # claimed for this exchange: issue its successor
    RETRY = "retry"  # sent again within the window: the first answer again
    ERASED = "erased"  # within the window, but the person's decision erased that answer
    REUSED = "reused"  # already rotated: a thief or the holder, so the grant is ended
    DEAD = "dead"  # expired, revoked, its grant ended, or its person or client disabled


@dataclass(frozen=True)
class Presentation:
    outcome: Presented
    token: RefreshToken | None = None
    retry_answer: dict | None = None


def present_refresh_token(value: str, client: Client, life: Lifetimes) -> Presentation:
    """The refresh token ``value`` presented by ``client``: judged (``policy``) and, if it is to
    rotate, claimed for this exchange in the transaction that will hold its successor.

    The person's lock comes first (``locks``), then the token as committed now: a revocation
    that committed meanwhile is seen, one that comes later sees the successor. Of concurrent
    uses exactly one is ROTATE; the others see what it committed and are retries. A REUSED token
    has already ended its grant (committed, see ``end_compromised_grant``).
    """
    token = find_refresh_token(value)
    if token is None or not token.check_client(client):
        return Presentation(Presented.UNKNOWN)
    if token.family.user_id is not None:
        grant = locks.lock_for_issuance(token.family.user_id, client.id)
        token = reread_refresh_token(token)
        if token is None or not grant.may_issue:
            return Presentation(Presented.DEAD)
    verdict = judge(token, life)
    if verdict is policy.RefreshVerdict.ROTATE:
        if claim_refresh_token(token):
            return Presentation(Presented.ROTATE, token)
        db.session.refresh(token)
        verdict = judge(token, life)
    if verdict is policy.RefreshVerdict.RETRY:
        answer = answer_for_retry(token, value)
        if answer is None:
            return Presentation(Presented.ERASED, token)
        return Presentation(Presented.RETRY, token, answer)
    if verdict is policy.RefreshVerdict.REUSED:
        return Presentation(Presented.REUSED, token)
    return Presentation(Presented.DEAD, token)


def record_successor(
    presented: RefreshToken, value: str, successor: RefreshToken | None, answer: dict
) -> None:
    """``presented`` was exchanged for ``answer`` (holding ``successor``): link them, and keep
    the answer, sealed, for a retry within the window."""
    presented.successor = successor
    keep_answer_for_retry(presented, value, answer)


def claim_refresh_token(token: RefreshToken) -> bool:
    """Mark the token rotated; True for exactly one caller, however many race.

    Its first use also ends the retry window of the token it replaced: that one's sealed answer
    (which holds this token) is erased, so a copy of the database and any older token of the
    family unseal nothing past the newest used one.
    """
    rotated = rows_matched(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.rotated_at.is_(None))
        .values(rotated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if rotated != 1:
        return False
    erase_retry_answers(RefreshToken.successor_id == token.id)
    return True


def erase_retry_answers(condition: ColumnElement[bool]) -> int:
    """Erase the sealed retry answers of the refresh tokens matching ``condition``: each holds
    its successor, so none may outlive the moment it can no longer be needed. How many."""
    return rows_matched(
        update(RefreshToken)
        .where(condition, RefreshToken.retry_answer.is_not(None))
        .values(retry_answer=None)
        .execution_options(synchronize_session=False)
    )


def revoke_family(family: TokenFamily, when: datetime | None = None) -> None:
    """Revoke every token of the family; the caller commits."""
    when = when or clock.now()
    if family.revoked_at is None:
        family.revoked_at = when
    _revoke_access_tokens(family, when)


def _revoke_access_tokens(family: TokenFamily, when: datetime) -> None:
    db.session.execute(
        update(AccessToken)
        .where(AccessToken.family_id == family.id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=when)
        .execution_options(synchronize_session=False)
    )


class Revoked(TypedDict):
    """What ``revoke_everything`` ended; the keys go into the audit record as they are."""

    families: int
    client_tokens: int
    codes: int


def revoke_everything(user: User | None = None, client: Client | None = None) -> Revoked:
    """Revoke every live token family of ``user`` or of ``client`` (or of both together), their
    access tokens and a client's own (client_credentials) tokens, and discard unredeemed codes.
    The counts; the caller commits."""
    if user is None and client is None:
        raise ValueError("revoke_everything needs a user or a client")
    # Before reading anything, in the order ``locks`` documents.
    if user is not None:
        locks.lock_person(user.id)
    if client is not None:
        locks.lock_client(client.id)
    now = clock.now()
    family_query = select(TokenFamily).where(TokenFamily.revoked_at.is_(None))
    token_query = update(AccessToken).where(AccessToken.revoked_at.is_(None))
    code_query = delete(AuthorizationCode).where(AuthorizationCode.redeemed_at.is_(None))
    if user is not None:
        family_query = family_query.where(TokenFamily.user_id == user.id)
        token_query = token_query.where(AccessToken.user_id == user.id)
        code_query = code_query.where(AuthorizationCode.user_id == user.id)
    if client is not None:
        family_query = family_query.where(TokenFamily.client_id == client.id)
        token_query = token_query.where(AccessToken.client_id == client.id)
        code_query = code_query.where(AuthorizationCode.client_id == client.id)
    families = list(db.session.scalars(family_query))
    for family in families:
        revoke_family(family, now)
    # What no family covers: a client's tokens for itself.
    loose = rows_matched(
        token_query.values(revoked_at=now).execution_options(synchronize_session=False)
    )
    codes = rows_matched(code_query.execution_options(synchronize_session=False))
    return {"families": len(families), "client_tokens": loose, "codes": codes}


def families_of_code(code: AuthorizationCode) -> list[TokenFamily]:
    """What redeeming ``code`` issued (RFC 6749 §4.1.2: revoked if the code comes back)."""
    return list(
        db.session.scalars(select(TokenFamily).where(TokenFamily.authorization_code_id == code.id))
    )


def discard_pending_codes(user: User, client: Client, having_scope: str | None = None) -> int:
    """Codes issued to ``client`` for ``user`` and not yet redeemed stop working (deleted);
    only those whose scope includes ``having_scope``, if given."""
    pending = list(
        db.session.scalars(
            select(AuthorizationCode).where(
                AuthorizationCode.user_id == user.id,
                AuthorizationCode.client_id == client.id,
                AuthorizationCode.redeemed_at.is_(None),
            )
        )
    )
    doomed = [c.id for c in pending if having_scope is None or having_scope in scope_list(c.scope)]
    if doomed:
        db.session.execute(
            delete(AuthorizationCode)
            .where(AuthorizationCode.id.in_(doomed))
            .execution_options(synchronize_session=False)
        )
    return len(doomed)


def revoke_families_of(user: User, client: Client, having_scope: str | None = None) -> int:
    """Revoke the live token families of ``user`` and ``client`` (only those whose scope
    includes ``having_scope``, if given); the number revoked. The caller commits."""
    families = list(
        db.session.scalars(
            select(TokenFamily).where(
                TokenFamily.user_id == user.id,
                TokenFamily.client_id == client.id,
                TokenFamily.revoked_at.is_(None),
            )
        )
    )
    if having_scope is not None:
        families = [f for f in families if having_scope in scope_list(f.scope)]
    for family in families:
        revoke_family(family)
    return len(families)


def withdraw_scope(user: User, client: Client, scope: str) -> int:
    """The person took ``scope`` back: every live grant of theirs to ``client`` that holds it
    loses it at once. Its access tokens are revoked; its refresh tokens live on and from now on
    issue only what is left (``policy.scope_after_withdrawal``), or the grant ends. The number
    of grants touched; the caller commits."""
    touched = 0
    families = db.session.scalars(
        select(TokenFamily).where(
            TokenFamily.user_id == user.id,
            TokenFamily.client_id == client.id,
            TokenFamily.revoked_at.is_(None),
        )
    )
    for family in list(families):
        if scope not in scope_list(family.scope):
            continue
        touched += 1
        remaining = policy.scope_after_withdrawal(family.scope, scope)
        if remaining is None:
            revoke_family(family)
            continue
        family.scope = remaining
        _revoke_access_tokens(family, clock.now())
        # A retry must not replay an answer given before the person's decision: it holds the
        # scope just taken back (``answer_for_retry`` then finds none).
        erase_retry_answers(RefreshToken.family_id == family.id)
    return touched


#: What decoding an attacker's JWT may raise; ValueError covers binascii, JSON and Unicode errors.
_DECODING_ERRORS = (JoseError, ValueError, TypeError, KeyError, AttributeError)


def decode_own_jwt(token: str, typ: str = "at+jwt") -> dict | None:
    """The claims of a JWT this server signed with a still-published key, else None.

    Checks signature (RS256 only), ``typ`` and ``iss``; expiry is the caller's business so that
    introspection can tell "expired" apart from "not ours".
    """
    if not isinstance(token, str) or len(token) > 8192 or token.count(".") != 2:
        return None
    # Every part is attacker-chosen: a header that is a JSON array, base64 of non-UTF-8 bytes,
    # a claims set that is a string... joserfc raises all sorts for those, not only JoseError.
    try:
        header = jws.extract_compact(token.encode()).headers()
        if not isinstance(header, dict):
            return None
        if header.get("alg") != ALGORITHM or header.get("typ") != typ:
            return None
        kid = header.get("kid")
        key = find_published_key(kid) if isinstance(kid, str) else None
        if key is None:
            return None
        decoded = jwt.decode(token, private_key(key), [ALGORITHM])
        claims = dict(decoded.claims)
    except _DECODING_ERRORS:
        return None
    if claims.get("iss") != current_app.config["ISSUER"]:
        return None
    return claims


def find_access_token(token: str) -> AccessToken | None:
    """The record of an access token we issued (revoked or expired ones included), with its
    client, person and grant in the same query."""
    claims = decode_own_jwt(token)
    jti = claims.get("jti") if claims else None
    if not isinstance(jti, str) or not jti.isprintable() or len(jti) > 200:
        return None
    return db.session.scalar(
        select(AccessToken)
        .where(AccessToken.jti == jti)
        .options(
            joinedload(AccessToken.client),
            joinedload(AccessToken.user),
            joinedload(AccessToken.family),
        )
    )


@dataclass(frozen=True)
class AccessTokenFacts:
    """What introspection tells of an access token, read in one query as plain values: the
    resource servers' hot path pays for no ORM objects (issue 15)."""

    jti: str
    scope: str
    audience: str
    issued_at: datetime
    expires_at: datetime
    client_pk: int
    client_id: str
    subject: str  # the person's, or the client's own for a client_credentials token
    email: str | None  # the person's address; None for a client's own token
    live: bool  # not revoked, its grant live, its client and person enabled

    def active(self) -> bool:
        return self.live and self.expires_at > clock.now()


#: Built once: a statement made per request costs more than the query it runs.
_FACTS_BY_JTI = (
    select(
        AccessToken.jti,
        AccessToken.scope,
        AccessToken.audience,
        AccessToken.issued_at,
        AccessToken.expires_at,
        AccessToken.revoked_at,
        Client.id,
        Client.client_id,
        Client.disabled_at,
        User.subject,
        User.email,
        User.disabled_at,
        TokenFamily.revoked_at,
    )
    .join(Client, Client.id == AccessToken.client_id)
    .outerjoin(User, User.id == AccessToken.user_id)
    .outerjoin(TokenFamily, TokenFamily.id == AccessToken.family_id)
    .where(AccessToken.jti == bindparam("jti"))
)


def access_token_facts(token: str) -> AccessTokenFacts | None:
    """The facts of an access token we issued (revoked or expired ones included), or None:
    the same judgement as ``find_access_token`` and ``access_token_active``, in one query
    on the session's connection (no ORM loading)."""
    claims = decode_own_jwt(token)
    jti = claims.get("jti") if claims else None
    if not isinstance(jti, str) or not jti.isprintable() or len(jti) > 200:
        return None
    row = db.session.connection().execute(_FACTS_BY_JTI, {"jti": jti}).first()
    if row is None:
        return None
    (jti, scope, audience, issued_at, expires_at, revoked_at, client_pk, client_id,
     client_disabled_at, subject, email, user_disabled_at, family_revoked_at) = row  # fmt: skip
    return AccessTokenFacts(
        jti=jti,
        scope=scope,
        audience=audience,
        issued_at=issued_at,
        expires_at=expires_at,
        client_pk=client_pk,
        client_id=client_id,
        subject=subject if subject is not None else client_id,
        email=email,
        live=revoked_at is None
        and family_revoked_at is None
        and client_disabled_at is None
        and user_disabled_at is None,
    )


def access_token_active(record: AccessToken) -> bool:
    """Not revoked, not expired, its grant live, and neither its client nor its person
    disabled: a token issued while either was being disabled is refused here too."""
    return (
        record.revoked_at is None
        and (record.family is None or record.family.revoked_at is None)
        and record.expires_at > clock.now()
        and parties_enabled(record.client, record.user)
    )


def parties_enabled(client: Client, user: User | None) -> bool:
    """Whether the client and the person (if any) a token was issued to are both enabled."""
    return client.disabled_at is None and (user is None or user.disabled_at is None)


def decode_id_token_hint(hint: str | None, allow_expired: bool = True) -> dict | None:
    """The claims of ``hint`` if it is an ID token this server issued to a registered client.

    An access token (``typ`` at+jwt) is no hint, and neither is a token whose ``aud`` names no
    client of ours. Expired ID tokens are accepted by default: RP-Initiated Logout §2 and OIDC
    Core §3.1.2.1 both allow an expired ID token as a hint.
    """
    claims = decode_own_jwt(hint, typ="JWT") if hint else None
    if claims is None:
        return None
    subject, audience = claims.get("sub"), claims.get("aud")
    if not isinstance(subject, str) or not isinstance(audience, str):
        return None
    if find_client(audience) is None:
        return None
    if not allow_expired:
        expires = claims.get("exp")
        if not isinstance(expires, int) or expires <= clock.now().timestamp():
            return None
    return claims
