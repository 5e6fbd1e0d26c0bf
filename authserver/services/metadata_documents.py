"""OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a
``client_id`` that is an ``https`` URL names a JSON document, at that URL, describing the client.

Such a client registers nowhere. Its document is fetched through ``security/outbound.py`` (the
SSRF guards), checked (``policy.metadata_document_problem``) and kept as a ``clients`` row marked
``metadata_document``, so consent, codes, tokens, Connected apps, revocation and the audit
record treat it like any other public client. The row is trusted until ``metadata_expires_at``
(the answer's HTTP caching headers, within bounds: ``policy.metadata_cache_seconds``) and fetched
again on the first use after that. A document that could not be had, or was refused, is
remembered for ``policy.METADATA_FAILURE_CACHE`` seconds and its URL refused meanwhile.

The row, the failures and their audit events are written in transactions of their own (on a
connection of their own, like ``audit.record_refusal``): filling a cache is no part of the
request that needed it, and must outlive that request's rollback (a login page in between, a
refused token request), or every worker would fetch again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from .. import clock, policy
from ..extensions import db
from ..models import AuditEvent, Client, MetadataDocumentFailure
from ..security import outbound
from . import audit, caches
from .clients import find_client, redirect_uri_problem


class DocumentRefused(Exception):
    """The client_id's document could not be had or is not acceptable; the message says why in
    words safe to show on the error page (never the document's body)."""


def names_document(client_id: object) -> bool:
    """Whether ``client_id`` is meant as a metadata document's URL here (the feature is on)."""
    config = current_app.config
    return bool(config["CIMD_ENABLED"]) and policy.names_metadata_document(
        client_id, bool(config["CIMD_ALLOW_LOOPBACK"])
    )


def honoured(client: Client) -> bool:
    """Whether ``client`` may be used at all: a metadata document's client only while documents
    are accepted (switching ``CIMD_ENABLED`` off stops the clients it let in, at once)."""
    return not client.metadata_document or bool(current_app.config["CIMD_ENABLED"])


def fresh(client: Client) -> bool:
    """Whether ``client`` may be used as it is: registered here, or a document still trusted."""
    if not client.metadata_document:
        return True
    expires = client.metadata_expires_at
    return expires is not None and clock.now() < expires


def client_for(url: str, may_fetch_from: Callable[[str], bool]) -> Client:
    """The client the metadata document at ``url`` describes, fetched and checked again if the
    copy kept has expired; ``may_fetch_from(host)`` throttles fetches per host.

    Raises ``DocumentRefused`` for a URL that cannot name a document, a document that could
    not be had or is refused (both remembered briefly), or a host fetched too often just now.
    A client registered here under a URL-shaped client_id is returned as it is.
    """
    known = find_client(url)
    if known is not None and fresh(known):
        return known
    allow_loopback = bool(current_app.config["CIMD_ALLOW_LOOPBACK"])
    problem = policy.metadata_document_url_problem(url, allow_loopback)
    if problem:
        raise DocumentRefused(f"The client_id {problem}.")
    now = clock.now()
    remembered = _recent_failure(url, now)
    if remembered is not None:
        raise DocumentRefused(remembered)
    host = urlsplit(url).hostname or ""
    if not may_fetch_from(host):
        raise DocumentRefused(
            f"Too many client metadata documents were fetched from {host} just now; "
            "try again in a minute."
        )
    try:
        fetched = outbound.fetch_json(
            url, max_bytes=outbound.METADATA_MAX_BYTES, allow_loopback=allow_loopback
        )
    except outbound.FetchRefused as error:
        raise _refused(
            url, now, f"The client metadata document could not be fetched: {error}"
        ) from error
    problem = policy.metadata_document_problem(fetched.document, url, redirect_uri_problem)
    if problem:
        raise _refused(url, now, f"The client metadata document is refused: {problem}.")
    described = policy.metadata_client(fetched.document, url)
    keep = policy.metadata_cache_seconds(fetched.max_age, fetched.expires, fetched.date, now)
    _store(url, described, now, now + timedelta(seconds=keep))
    stored = db.session.scalar(
        select(Client).where(Client.client_id == url).execution_options(populate_existing=True)
    )
    if stored is None:  # deleted by the operator in the meantime
        raise DocumentRefused("The client metadata document's client was just deleted.")
    return stored


def _url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("ascii")).hexdigest()


def _recent_failure(url: str, now: datetime) -> str | None:
    failure = db.session.get(MetadataDocumentFailure, _url_hash(url), populate_existing=True)
    if failure is None or failure.retry_at <= now:
        return None
    return failure.reason


def _refused(url: str, now: datetime, reason: str) -> DocumentRefused:
    """Remember the failure (every worker and node refuses the URL for a while) and put it on
    the record: the URL is the client_id it would have been."""
    reason = audit.sanitised(reason, 300)
    table = MetadataDocumentFailure.__table__
    key = _url_hash(url)
    retry_at = now + timedelta(seconds=policy.METADATA_FAILURE_CACHE)
    with db.engine.begin() as connection:
        connection.execute(delete(table).where(table.c.url_hash == key))
        connection.execute(insert(table).values(url_hash=key, reason=reason, retry_at=retry_at))
    audit.record_refusal(
        "client.metadata_refused",
        client_id=url,
        error="invalid_client",
        reason=reason,
        host=urlsplit(url).hostname,
    )
    return DocumentRefused(reason)


def _store(url: str, described: policy.MetadataClient, now: datetime, expires_at: datetime) -> None:
    """Create or refresh the client's row from its document, in a transaction of its own."""
    values = {
        "name": described.name,
        "redirect_uris": described.redirect_uris,
        "scope": described.scope,
        "grant_types": described.grant_types,
        "client_uri": described.client_uri,
        "metadata_fetched_at": now,
        "metadata_expires_at": expires_at,
        "updated_at": now,
    }
    table = Client.__table__
    with db.engine.begin() as connection:
        created = _insert_client(connection, url, values, now)
        if not created:
            connection.execute(
                update(table)
                .where(table.c.client_id == url, table.c.metadata_document.is_(True))
                .values(**values)
            )
        connection.execute(
            delete(MetadataDocumentFailure.__table__).where(
                MetadataDocumentFailure.__table__.c.url_hash == _url_hash(url)
            )
        )
        caches.bump_on(connection, caches.CLIENTS)
        connection.execute(
            insert(AuditEvent.__table__).values(
                **audit.entry(
                    "client.metadata_fetched" if not created else "client.created",
                    client_id=url,
                    actor="metadata-document",
                    host=urlsplit(url).hostname,
                    redirect_uris=len(described.redirect_uris),
                    kept_seconds=int((expires_at - now).total_seconds()),
                    metadata_document=True,
                ),
                repeats=1,
            )
        )


def _insert_client(connection: Connection, url: str, values: dict, now: datetime) -> bool:
    """Insert the client's row; False if it exists (a concurrent first use made it first)."""
    if connection.scalar(select(Client.__table__.c.id).where(Client.__table__.c.client_id == url)):
        return False
    try:
        with connection.begin_nested():
            connection.execute(
                insert(Client.__table__).values(
                    client_id=url,
                    is_public=True,
                    metadata_document=True,
                    post_logout_redirect_uris=[],
                    created_at=now,
                    **values,
                )
            )
    except IntegrityError:
        return False
    return True
