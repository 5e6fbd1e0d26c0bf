"""What the operator does from the command line: accounts and clients switched off and on,
deleted, their tokens revoked and sessions ended. Each function flushes; the command commits.

A disabled account cannot log in (``users.authenticate``) and keeps no session or token; a
disabled client cannot authenticate or start an authorization (``oauth2.storage.query_client``
and the authorize view) and keeps no token. Enabling either gives nothing back: people log in
again and apps ask again.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import delete, func, select, true, update

from .. import clock
from ..extensions import db
from ..models import AccessToken, AuthorizationCode, Client, TokenFamily, User, UserSession
from . import (
    ServiceError,
    accounts,
    audit,
    caches,
    clients,
    factors,
    keys,
    locks,
    rows_matched,
    sessions,
    tokens,
    users,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- users -------------------------------------------------------------------------------------


def get_user(email: str) -> User:
    user = users.find_by_email(email)
    if user is None:
        raise ServiceError(f"No user with email {email!r}.")
    return user


def describe_user(user: User, detail: bool = False) -> dict:
    data = {
        "email": user.email,
        "sub": user.subject,
        "name": user.name,
        "disabled": user.disabled_at is not None,
        "disabled_at": _iso(user.disabled_at),
        "email_verified": user.email_verified_at is not None,
        "created_at": _iso(user.created_at),
    }
    if detail:
        data["sessions"] = len(sessions.sessions_of(user))
        data["grants"] = db.session.scalar(
            select(func.count(TokenFamily.id)).where(
                TokenFamily.user_id == user.id, TokenFamily.revoked_at.is_(None)
            )
        )
        data["clients"] = [c.client_id for c in clients.clients_of(user)]
    return data


def end_sessions(user: User, actor: str = "operator") -> int:
    ended = sessions.end_all_sessions(user)
    audit.record("sessions.ended", user=user, actor=actor, sessions=ended)
    return ended


class UserDisabled(tokens.Revoked):
    """What ``disable_user`` ended: the sessions besides the tokens."""

    sessions: int


def disable_user(user: User, actor: str = "operator") -> UserDisabled:
    """No more logins; every session ends and every grant is revoked."""
    locks.lock_person(user.id)  # issuance in flight finishes first, and is revoked below
    db.session.refresh(user)
    if user.disabled_at is not None:
        raise ServiceError(f"User {user.email} is already disabled.")
    user.disabled_at = clock.now()
    ended = sessions.end_all_sessions(user)
    revoked = tokens.revoke_everything(user=user)
    audit.record("user.disabled", user=user, actor=actor, sessions=ended, **revoked)
    db.session.flush()
    return {"sessions": ended, **revoked}


def reset_mfa(user: User, actor: str = "operator") -> dict[str, int]:
    """Remove the person's authenticator, recovery codes and passkeys (they lost them, and
    proved who they are to the operator some other way): the password alone signs in again.
    Their sessions end, so whoever passed a factor that is now gone is out too."""
    removed = factors.reset_all(user)
    ended = sessions.end_all_sessions(user)
    audit.record(
        "mfa.reset",
        user=user,
        actor=actor,
        sessions=ended,
        totp=removed["totp"],
        recovery_codes=removed["recovery_codes"],
        passkeys=removed["passkeys"],
    )
    db.session.flush()
    return {**removed, "sessions": ended}


def enable_user(user: User, actor: str = "operator") -> None:
    if user.disabled_at is None:
        raise ServiceError(f"User {user.email} is not disabled.")
    user.disabled_at = None
    audit.record("user.enabled", user=user, actor=actor)
    db.session.flush()


def set_password(user: User, password: str, actor: str = "operator") -> None:
    """The operator sets a password (same rules as sign-up); every session ends."""
    users.validate_new_account(user.email, password, "")
    users.set_password(user, password)
    audit.record("password.changed", user=user, actor=actor)


def verify_email(user: User, actor: str = "operator") -> bool:
    """Mark the address verified (the operator knows it is theirs); False if it already was."""
    return accounts.mark_verified(user, actor=actor)


def send_reset(user: User, actor: str = "operator") -> None:
    """Queue a password-reset mail to the person (30-minute link); refused for a disabled
    account, which could not log in with it anyway."""
    if user.disabled_at is not None:
        raise ServiceError(f"User {user.email} is disabled: enable it first.")
    accounts.send_reset(user, actor=actor)


def delete_user(user: User, with_clients: bool = False, actor: str = "operator") -> list[str]:
    """Delete the account; its sessions, grants and tokens go with it (ON DELETE CASCADE).

    A developer's clients would go too, so that takes ``with_clients``. The client_ids deleted.
    """
    owned = clients.clients_of(user)
    if owned and not with_clients:
        raise ServiceError(
            f"{user.email} owns {len(owned)} client(s); pass --with-clients to delete them too."
        )
    # Ended first, not only cascaded away: the apps the person signed in to are told
    # (back-channel logout), which needs the sessions' grants before they go.
    sessions.end_all_sessions(user)
    for client in owned:
        clients.delete_client(client, actor=actor)
    audit.record("user.deleted", user_id=None, actor=actor, sub=user.subject)
    db.session.delete(user)
    db.session.flush()
    return [c.client_id for c in owned]


# --- clients -----------------------------------------------------------------------------------


def get_client(client_id: str) -> Client:
    client = clients.find_client(client_id)
    if client is None:
        raise ServiceError(f"No client with client_id {client_id!r}.")
    return client


def describe_client(client: Client) -> dict:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.is_public,
        "verified": client.verified,
        "resource_server": client.can_introspect_any,
        "owner": client.owner.email if client.owner is not None else None,
        "scope": client.scope,
        "grant_types": list(client.grant_types),
        "redirect_uris": list(client.redirect_uris),
        "disabled": client.disabled_at is not None,
        "disabled_at": _iso(client.disabled_at),
        "previous_secret_expires_at": _iso(clients.previous_secret_expiry(client)),
        "created_at": _iso(client.created_at),
    }


def disable_client(client: Client, actor: str = "operator") -> tokens.Revoked:
    """The client can no longer authenticate nor start an authorization; its tokens are revoked,
    and a previous secret still in its grace period ends, so enabling the client later brings
    back only its current secret (a client is often disabled because a secret leaked)."""
    if client.disabled_at is not None:
        raise ServiceError(f"Client {client.client_id} is already disabled.")
    client.disabled_at = clock.now()
    revoked = tokens.revoke_everything(client=client)
    grace_ended = clients.end_previous_secret(client)
    caches.bump(caches.CLIENTS)
    audit.record(
        "client.disabled",
        user=client.owner,
        client_id=client.client_id,
        actor=actor,
        previous_secret_ended=grace_ended or None,
        **revoked,
    )
    db.session.flush()
    return revoked


def enable_client(client: Client, actor: str = "operator") -> None:
    if client.disabled_at is None:
        raise ServiceError(f"Client {client.client_id} is not disabled.")
    client.disabled_at = None
    # Nothing issued before now may come back to life: tokens the client got while it was being
    # disabled (client_credentials takes no lock) are revoked now.
    tokens.revoke_everything(client=client)
    caches.bump(caches.CLIENTS)
    audit.record("client.enabled", user=client.owner, client_id=client.client_id, actor=actor)
    db.session.flush()


def rotate_secret(client: Client, grace_seconds: int | None = None, actor: str = "operator") -> str:
    """A new secret; the old one keeps working ``CLIENT_SECRET_GRACE`` seconds unless told."""
    if grace_seconds is None:
        grace_seconds = int(current_app.config["CLIENT_SECRET_GRACE"])
    if grace_seconds < 0:
        raise ServiceError("The grace period cannot be negative.")
    return clients.rotate_secret(client, grace_seconds, actor=actor)


# --- tokens ------------------------------------------------------------------------------------


def revoke_tokens(
    user: User | None = None, client: Client | None = None, actor: str = "operator"
) -> tokens.Revoked:
    if user is None and client is None:
        raise ServiceError("Name a user (--user) or a client (--client).")
    revoked = tokens.revoke_everything(user=user, client=client)
    audit.record(
        "tokens.revoked",
        user=user,
        client_id=client.client_id if client is not None else None,
        actor=actor,
        **revoked,
    )
    return revoked


# --- after restoring a backup ------------------------------------------------------------------


def after_restore(actor: str = "operator") -> dict[str, int | str]:
    """What a restored (older) database must not bring back: every login session ends, every
    token family and access token is revoked, unredeemed codes go, sealed retry answers are
    erased, and a new signing key takes over. A token revoked after the backup was taken is
    live again in the restored rows; this is the one way to be sure none is. People log in
    again and apps ask again (refresh tokens included). The counts; the command commits.

    Run it with the nodes stopped, before they serve from the restored database.
    """
    now = clock.now()
    ended = rows_matched(
        update(UserSession)
        .where(UserSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    families = rows_matched(
        update(TokenFamily)
        .where(TokenFamily.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    access_tokens = rows_matched(
        update(AccessToken)
        .where(AccessToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    codes = rows_matched(
        delete(AuthorizationCode)
        .where(AuthorizationCode.redeemed_at.is_(None))
        .execution_options(synchronize_session=False)
    )
    tokens.erase_retry_answers(true())
    key = keys.rotate_keys()
    counts: dict[str, int | str] = {
        "sessions": ended,
        "families": families,
        "access_tokens": access_tokens,
        "codes": codes,
        "new_signing_key": key.kid,
    }
    audit.record(
        "restore.hygiene",
        actor=actor,
        sessions=ended,
        families=families,
        access_tokens=access_tokens,
        codes=codes,
        new_signing_key=key.kid,
    )
    return counts
