"""What a user has granted a client, so a repeat request can skip the consent page."""

from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..models import Client, Consent, User
from ..scopes import join_scopes, scope_list
from .tokens import discard_pending_codes, revoke_families_of


def find_consent(user: User, client: Client) -> Consent | None:
    return db.session.scalar(
        select(Consent).where(Consent.user_id == user.id, Consent.client_id == client.id)
    )


def granted(user: User, client: Client) -> list[str] | None:
    """The scopes ``user`` has granted ``client`` so far, or None if never asked."""
    consent = find_consent(user, client)
    return scope_list(consent.scope) if consent is not None else None


def record_consent(user: User, client: Client, requested: list[str], granted: list[str]) -> None:
    """Store the user's latest answer: scopes asked for now take the new answer, others stay.

    Flushed, not committed: the caller commits it together with the code it issues, so a failure
    there leaves no consent behind (SPEC: bad input changes nothing).
    """
    consent = find_consent(user, client)
    earlier = set(scope_list(consent.scope)) if consent else set()
    scope = join_scopes((earlier - set(requested)) | set(granted))
    if not scope:
        # Nothing granted: the app is not connected, so it must not be listed as one.
        if consent is not None:
            db.session.delete(consent)
    elif consent is None:
        db.session.add(Consent(user=user, client=client, scope=scope))
    else:
        consent.scope = scope
    db.session.flush()


def connected_apps(user: User) -> list[Consent]:
    return list(
        db.session.scalars(
            select(Consent).where(Consent.user_id == user.id).order_by(Consent.created_at)
        )
    )


def revoke_consent(user: User, client: Client) -> bool:
    """Forget the consent and revoke every token the client holds for the user."""
    consent = find_consent(user, client)
    revoked = revoke_families_of(user, client)
    # A code already handed out but not yet exchanged must not turn into tokens afterwards.
    revoked += discard_pending_codes(user, client)
    if consent is not None:
        db.session.delete(consent)
    return consent is not None or revoked > 0
