"""The one adapter between Authlib and our models: what Authlib asks to generate, save, find
and retire, answered by the services and the rules in ``policy``.

Authlib's documented seams used here: a token generator (``register_token_generator``), the
server's ``save_token`` and ``query_client``, and the grants' storage methods in ``grants.py``.
Nothing here commits: the token endpoint commits once when Authlib answers 200 (see
``services/__init__.py``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from authlib.oauth2.rfc6749 import InvalidScopeError, OAuth2Request
from flask import current_app
from flask import request as flask_request
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import make_transient_to_detached

from .. import clock, policy
from ..extensions import db
from ..models import AuthorizationCode, Client, RefreshToken, User
from ..scopes import scope_list
from ..security.secrets import new_secret
from ..services import audit, caches, consents, tokens
from ..services.clients import find_client


@dataclass(frozen=True)
class Grantor:
    """The person behind a grant, as Authlib's ``request.user``: who they are, what they
    granted, and how they had logged in (for ``auth_time`` and ``sid``)."""

    user: User
    granted_scope: str
    auth_time: datetime | None
    session_id: str | None
    #: For a refresh token sent again within the retry window: the answer it got the first time.
    retry_answer: dict | None = None

    def get_user_id(self) -> str:
        return self.user.subject


def query_client(client_id: str) -> Client | None:
    """The client, from this process's cache (dropped whenever any client changes).

    A disabled client is not found: every endpoint then answers ``invalid_client``.
    """
    cached = caches.cached(caches.CLIENTS, client_id, lambda: _detached(find_client(client_id)))
    if cached is not None and cached.disabled_at is not None:
        return None
    # Into this request's session without a query (SQLAlchemy's documented caching recipe).
    return db.session.merge(cached, load=False) if cached is not None else None


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
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict:
    """The token response (RFC 6749 §5.1): an RFC 9068 JWT access token and, where
    ``policy.issue_refresh_token`` allows, an opaque refresh token of 256 bits.

    Registered as Authlib's default token generator; ``include_refresh_token`` is what the
    grant asks for, the policy decides.
    """
    if user is not None and user.retry_answer is not None:
        return dict(user.retry_answer)  # the same successor again, not a third pair
    life = policy.lifetimes(current_app.config)
    if grant_type == "client_credentials":
        scope = policy.client_credentials_scope(client.scope, scope)
        if scope is None:
            raise InvalidScopeError("The client may not request that scope for itself.")
    elif grant_type == "refresh_token":
        scope = policy.refreshed_scope(user.granted_scope, scope, client.scope)
        if scope is None:
            raise InvalidScopeError("The client may no longer request any of the granted scope.")
    person = user.user if user is not None else None
    claims = tokens.access_token_claims(
        client, person, scope, user.auth_time if user else None, life, clock.now()
    )
    token = {
        "access_token": tokens.sign_access_token(claims),
        "token_type": "Bearer",
        "expires_in": life.access_token,
        "scope": scope,
    }
    granted = scope_list(user.granted_scope) if user is not None else []
    if include_refresh_token and policy.issue_refresh_token(client.grant_types, granted):
        token["refresh_token"] = new_secret(32)
    return token


def save_token(token: dict, request: OAuth2Request) -> None:
    """Record what ``generate_token`` issued: the access token's ``jti`` and the refresh token's
    hash, in the family of the grant they descend from (started here for a redeemed code)."""
    client: Client = request.client
    grantor: Grantor | None = request.user
    if grantor is not None and grantor.retry_answer is not None:
        return  # a retry: everything in that answer was saved the first time
    family = None
    if request.payload.grant_type == "authorization_code":
        code: AuthorizationCode = request.authorization_code
        family = tokens.start_family(
            client, grantor.user, code.scope, code, code.auth_time, code.session_id
        )
    elif request.payload.grant_type == "refresh_token":
        refresh: RefreshToken = request.refresh_token
        family = refresh.family
    claims = _claims_of(token["access_token"])
    person = grantor.user if grantor else None
    tokens.record_access_token(claims, client, person, family)
    successor = None
    if "refresh_token" in token:
        life = policy.lifetimes(current_app.config)
        successor = tokens.record_refresh_token(token["refresh_token"], family, life)
    if request.payload.grant_type == "refresh_token":
        presented: RefreshToken = request.refresh_token
        presented.successor = successor
        tokens.keep_answer_for_retry(presented, request.form["refresh_token"], token)
    if person is not None:
        consents.note_use(person.id, client.id)
    if request.payload.grant_type == "authorization_code":
        # One record per grant, when it starts (the code is redeemed); identifiers only, the
        # jti names the first token without being usable as it. Refreshes and client
        # credentials tokens are recorded by their access_tokens row alone, so the machine
        # path stays one INSERT (README, "Performance choices").
        audit.record(
            "token.issued",
            user_id=person.id,
            client_id=client.client_id,
            actor=f"client:{client.client_id}",
            address=flask_request.remote_addr,
            grant_type="authorization_code",
            scope=claims["scope"],
            jti=claims["jti"],
            refresh_token="refresh_token" in token,
        )


def _claims_of(jwt: str) -> dict:
    # The token was signed a moment ago in this process: reading its payload back needs no
    # verification, and keeps the record and the token from ever disagreeing.
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
