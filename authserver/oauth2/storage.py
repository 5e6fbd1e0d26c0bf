"""The one adapter between Authlib and our models: what Authlib asks to generate, save, find
and retire, answered by the services and the rules in ``policy``.

Authlib's documented seams used here: a token generator (``register_token_generator``) and
``query_client``; each grant in ``grants.py`` decides its own scope and grant and records what
it issued through ``record_issued``. Every read and write goes through the services. Nothing
here commits: the token endpoint commits once when Authlib answers 200 (see
``services/__init__.py``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from authlib.oauth2.rfc6749 import OAuth2Request
from flask import current_app
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import make_transient_to_detached

from .. import clock, policy, throttling
from ..extensions import db
from ..models import Client, RefreshToken, TokenFamily, User
from ..scopes import scope_list
from ..security.secrets import new_secret
from ..services import caches, consents, metadata_documents, tokens
from ..services.clients import find_client
from ..services.metadata_documents import DocumentRefused


@dataclass(frozen=True)
class Grantor:
    """The person behind a grant, as Authlib's ``request.user``: who they are, what they
    granted, and how they had logged in (for ``auth_time`` and ``sid``)."""

    user: User
    granted_scope: str
    auth_time: datetime | None
    session_id: str | None
    #: How the person signed in (RFC 8176), for a code's ID token; None where no login is behind.
    amr: tuple[str, ...] | None = None

    def get_user_id(self) -> str:
        return self.user.subject


def query_client(client_id: str) -> Client | None:
    """The client, from this process's cache (dropped whenever any client changes).

    A disabled client is not found: every endpoint then answers ``invalid_client``; nor is a
    metadata document's client whose document, due again, could not be had or was refused, nor
    any such client while metadata documents are switched off.
    """
    cached = caches.cached(caches.CLIENTS, client_id, lambda: _detached(find_client(client_id)))
    if cached is not None and not metadata_documents.honoured(cached):
        return None
    if metadata_documents.names_document(client_id) and (
        cached is None or not metadata_documents.fresh(cached)
    ):
        try:
            return _enabled(resolve_client(client_id))
        except DocumentRefused:
            return None
    if cached is not None and cached.disabled_at is not None:
        return None
    # Into this request's session without a query (SQLAlchemy's documented caching recipe).
    return db.session.merge(cached, load=False) if cached is not None else None


def _enabled(client: Client | None) -> Client | None:
    return client if client is not None and client.disabled_at is None else None


def resolve_client(client_id: str | None) -> Client | None:
    """The client ``client_id`` names: registered here, or described by the metadata document
    at that URL (fetched when not kept or expired, fetches throttled per host); None when no
    client is called that. Raises ``DocumentRefused`` when the document is not acceptable."""
    if isinstance(client_id, str) and metadata_documents.names_document(client_id):
        return metadata_documents.client_for(client_id, throttling.metadata_document_fetch_allowed)
    client = find_client(client_id)
    return client if client is None or metadata_documents.honoured(client) else None


def _detached(row: Client | None) -> Client | None:
    if row is None:
        return None
    copy = Client(**{a.key: getattr(row, a.key) for a in sa_inspect(Client).column_attrs})
    make_transient_to_detached(copy)
    return copy


def generate_token(
    grant_type: str,
    client: Client,
    user: Grantor | None = None,
    *,
    scope: str,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
    audience: list[str] | None = None,
    jkt: str | None = None,
) -> dict:
    """The token response (RFC 6749 §5.1): an RFC 9068 JWT access token for ``scope`` (each
    grant has decided it) and, where ``policy.issue_refresh_token`` allows, an opaque refresh
    token of 256 bits.

    Registered as Authlib's default token generator; ``include_refresh_token`` is what the
    grant asks for, the policy decides. ``audience``: the resources (RFC 8707) the grant decided
    the token is for; None is the default audience. ``jkt``: the thumbprint of the DPoP key
    the token is bound to (RFC 9449 §6: ``cnf.jkt``, token_type ``DPoP``), None for a bearer token.
    """
    life = policy.lifetimes(current_app.config)
    person = user.user if user is not None else None
    claims = tokens.access_token_claims(
        client, person, scope, user.auth_time if user else None, life, clock.now(), audience, jkt
    )
    token = {
        "access_token": tokens.sign_access_token(claims),
        "token_type": policy.access_token_type(jkt),
        "expires_in": life.access_token,
        "scope": scope,
    }
    granted = scope_list(user.granted_scope) if user is not None else []
    if include_refresh_token and policy.issue_refresh_token(client.grant_types, granted):
        token["refresh_token"] = new_secret(32)
    return token


def record_issued(
    token: dict, client: Client, person: User | None, family: TokenFamily | None
) -> RefreshToken | None:
    """Record what ``generate_token`` issued: the access token's ``jti`` and the refresh token's
    hash, in ``family`` (the grant they descend from; None for a client's own token). The
    refresh token's record, if one was issued."""
    tokens.record_access_token(access_token_claims(token), client, person, family)
    successor = None
    if "refresh_token" in token:
        if family is None:  # policy.issue_refresh_token gives none to a client's own token
            raise RuntimeError("a refresh token must belong to a grant")
        life = policy.lifetimes(current_app.config)
        successor = tokens.record_refresh_token(token["refresh_token"], family, life)
    if person is not None:
        consents.note_use(person.id, client.id)
    return successor


def save_token(token: dict, request: OAuth2Request) -> None:
    """Authlib's server-wide ``save_token``; every grant here saves its own (``grants.py``)."""
    raise NotImplementedError(f"{request.payload.grant_type} must save its own tokens")


def access_token_id(token: dict) -> str:
    """The ``jti`` of the access token in ``token``: identifies it without being usable as it."""
    return access_token_claims(token)["jti"]


def access_token_claims(token: dict) -> dict:
    # The token was signed a moment ago in this process: reading its payload back needs no
    # verification, and keeps the record and the token from ever disagreeing.
    payload = token["access_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
