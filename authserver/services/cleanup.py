"""Bounded storage: what may be deleted once it can no longer matter, in small batches.

Safe on several nodes at once: each batch is one ``DELETE … WHERE id IN (SELECT … LIMIT n)``
in its own transaction; two nodes racing for the same rows delete them once between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, and_, delete, exists, or_, select

from .. import clock, policy
from ..extensions import db
from ..models import (
    AccessToken,
    AuditEvent,
    AuthorizationCode,
    DeviceAuthorization,
    MetadataDocumentFailure,
    OneTimeLink,
    OutboxMessage,
    PushedRequest,
    RateLimitCounter,
    RefreshToken,
    SigningKey,
    TokenFamily,
    UserSession,
)
from . import caches, keys, rows_matched
from .tokens import erase_retry_answers

BATCH = 1000
#: Redeemed codes are kept a while after they expire, so a replay is still recognised and
#: answered by revoking what the first redemption issued (RFC 6749 §4.1.2).
CODE_KEPT_AFTER_EXPIRY = timedelta(days=1)


@dataclass
class Removed:
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _delete_in_batches(model: type, condition: ColumnElement[bool], key: str = "id") -> int:
    column = getattr(model, key)
    removed = 0
    while True:
        batch = select(column).where(condition).limit(BATCH).scalar_subquery()
        deleted = rows_matched(
            delete(model).where(column.in_(batch)).execution_options(synchronize_session=False)
        )
        db.session.commit()
        removed += deleted
        if deleted < BATCH:
            return removed


def erase_stale_retry_answers(now: datetime, life: policy.Lifetimes) -> int:
    """Erase the sealed answers kept for a refresh retry once their window has passed: each holds
    its successor, so the newest used token of a family plus a database copy must unseal
    nothing for longer than the window (a successor's first use erases it sooner)."""
    erased = erase_retry_answers(
        RefreshToken.rotated_at < now - timedelta(seconds=life.refresh_retry)
    )
    db.session.commit()
    return erased


def cleanup(now: datetime | None = None) -> Removed:
    """Delete what has expired; returns how many rows of each kind went. Commits per batch."""
    now = now or clock.now()
    config = current_app.config
    life = policy.lifetimes(config)
    longest_jwt = timedelta(seconds=max(life.access_token, life.id_token))
    retention = timedelta(days=int(config["AUDIT_RETENTION_DAYS"]))
    family_end = now - timedelta(seconds=life.refresh_family)
    removed = Removed()
    steps = {
        "authorization_codes": (
            AuthorizationCode,
            AuthorizationCode.expires_at < now - CODE_KEPT_AFTER_EXPIRY,
        ),
        # Kept a day past expiry too: a device polling late is told ``expired_token``.
        "device_authorizations": (
            DeviceAuthorization,
            DeviceAuthorization.expires_at < now - CODE_KEPT_AFTER_EXPIRY,
        ),
        "access_tokens": (AccessToken, AccessToken.expires_at < now),
        "refresh_tokens": (RefreshToken, RefreshToken.expires_at < now),
        # A family past its absolute end, or revoked longer ago than any token of it can live.
        "token_families": (
            TokenFamily,
            or_(
                TokenFamily.created_at < family_end,
                TokenFamily.revoked_at < now - longest_jwt,
                # No token left (its last refresh token expired unused): it can issue nothing.
                and_(
                    TokenFamily.created_at < now - longest_jwt,
                    ~exists().where(RefreshToken.family_id == TokenFamily.id),
                    ~exists().where(AccessToken.family_id == TokenFamily.id),
                ),
            ),
        ),
        "user_sessions": (
            UserSession,
            or_(
                UserSession.expires_at < now,
                UserSession.ended_at.is_not(None),
                UserSession.last_seen_at
                < now - timedelta(seconds=int(config["SESSION_IDLE_TIMEOUT"])),
            ),
        ),
        "audit_events": (AuditEvent, AuditEvent.at < now - retention),
        # Kept a day past expiry, so a late click is told "expired" rather than "not ours".
        "one_time_links": (OneTimeLink, OneTimeLink.expires_at < now - timedelta(days=1)),
        # Sent or given-up mail stays a week for `outbox status` and the operator's questions.
        "outbox_messages": (
            OutboxMessage,
            or_(
                OutboxMessage.sent_at < now - timedelta(days=7),
                OutboxMessage.gave_up_at < now - timedelta(days=7),
            ),
        ),
        # Private keys no JWKS will list again: kept, they would only be something to steal.
        "signing_keys": (SigningKey, keys.unpublished(now)),
        # Past the time a browser that opened it may still finish it.
        "pushed_requests": (
            PushedRequest,
            PushedRequest.expires_at < now - timedelta(seconds=policy.PUSHED_REQUEST_FLOW_LIFETIME),
        ),
    }
    for name, (model, condition) in steps.items():
        removed.counts[name] = _delete_in_batches(model, condition)
    if removed.counts["signing_keys"]:
        caches.bump(caches.SIGNING_KEYS)  # every process drops its copy of the key set
        db.session.commit()
    removed.counts["refresh_retry_answers"] = erase_stale_retry_answers(now, life)
    removed.counts["rate_limit_counters"] = _delete_in_batches(
        RateLimitCounter, RateLimitCounter.expires_at <= now.timestamp(), key="key"
    )
    # Metadata documents that failed a while ago may be fetched again; the row has done its job.
    removed.counts["metadata_document_failures"] = _delete_in_batches(
        MetadataDocumentFailure, MetadataDocumentFailure.retry_at <= now, key="url_hash"
    )
    return removed
