"""Test data made through the same services the product uses (call inside an app context).

They return plain values, not ORM rows, so tests never lean on a session that has gone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from authserver.extensions import db
from authserver.services import clients, users

PASSWORD = "correct horse battery staple"
REDIRECT_URI = "https://app.example.com/callback"
ALL_SCOPES = "openid profile email offline_access events:read events:write"
_numbers = itertools.count(1)


@dataclass(frozen=True)
class UserInfo:
    id: int
    email: str
    password: str
    subject: str
    name: str


@dataclass(frozen=True)
class ClientInfo:
    """A client plus the plaintext secret its developer was shown once."""

    id: int
    client_id: str
    secret: str | None
    redirect_uri: str | None
    scope: str


def make_user(email: str | None = None, password: str = PASSWORD, name: str = "Ada") -> UserInfo:
    user = users.create_user(email or f"user{next(_numbers)}@example.com", password, name)
    db.session.commit()
    return UserInfo(user.id, user.email, password, user.subject, user.name)


def make_client(
    owner_email: str | None = None,
    public: bool = False,
    scope: str = ALL_SCOPES,
    grant_types: list[str] | None = None,
    redirect_uris: list[str] | None = None,
    name: str = "Example App",
    can_introspect_any: bool = False,
    dpop_bound_access_tokens: bool = False,
) -> ClientInfo:
    owner = users.find_by_email(owner_email) if owner_email else None
    client, secret = clients.create_client(
        name=name,
        redirect_uris=[REDIRECT_URI] if redirect_uris is None else redirect_uris,
        scope=scope,
        grant_types=grant_types or ["authorization_code", "refresh_token"],
        public=public,
        owner=owner,
        can_introspect_any=can_introspect_any,
        dpop_bound_access_tokens=dpop_bound_access_tokens,
    )
    db.session.commit()
    return ClientInfo(
        client.id,
        client.client_id,
        secret,
        client.redirect_uris[0] if client.redirect_uris else None,
        client.scope,
    )


def make_service_client(
    scope: str = "events:read", owner_email: str | None = None, **options: object
) -> ClientInfo:
    """A confidential client that acts for itself only (client_credentials)."""
    return make_client(
        owner_email=owner_email,
        grant_types=["client_credentials"],
        scope=scope,
        redirect_uris=[],
        **options,
    )
