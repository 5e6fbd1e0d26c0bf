"""What a user has granted a client, so a repeat request can skip the consent page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from .. import clock
from ..extensions import db
from ..models import Client, Consent, User
from ..scopes import join_scopes, scope_list
from . import audit, locks
from .tokens import discard_pending_codes, revoke_families_of, withdraw_scope

#: ``last_used_at`` is written at most this often (like a session's ``last_seen_at``).
TOUCH_INTERVAL = timedelta(seconds=60)


def find_consent(user: User, client: Client) -> Consent | None:
    # Read afresh even if this unit of work saw the row before: after the person's lock
    # (``locks``) it must show what a decision that committed meanwhile left.
    return db.session.scalar(
        select(Consent)
        .where(Consent.user_id == user.id, Consent.client_id == client.id)
        .execution_options(populate_existing=True)
    )


def granted(user: User, client: Client) -> list[str] | None:
    """The scopes ``user`` has granted ``client`` so far, or None if never asked."""
    consent = find_consent(user, client)
    return scope_list(consent.scope) if consent is not None else None


def granted_resources(user: User, client: Client) -> list[str]:
    """The resources (RFC 8707, besides the default audience) ``user`` let ``client`` reach."""
    consent = find_consent(user, client)
    return list(consent.resources or []) if consent is not None else []


def record_consent(
    user: User,
    client: Client,
    requested: list[str],
    granted: list[str],
    address: str | None = None,
    resources: list[str] | None = None,
) -> None:
    """Store the user's latest answer: scopes asked for now take the new answer, others stay.

    A scope granted before, asked for again and now unticked is taken back exactly as "Take
    back" on /account/apps does (``take_back``): its tokens stop at once. The caller holds the
    person's lock (``locks``). Flushed, not committed: the caller commits it together with the
    code it issues, so a failure there leaves no consent behind (SPEC: bad input changes nothing).
    """
    consent = find_consent(user, client)
    earlier = set(scope_list(consent.scope)) if consent else set()
    withdrawn = [s for s in requested if s in earlier and s not in granted]
    for scope in withdrawn:
        take_back(user, client, scope)
    scope = join_scopes((earlier - set(requested)) | set(granted))
    event = None
    if not scope:
        # Nothing granted: the app is not connected, so it must not be listed as one.
        if consent is not None:
            db.session.delete(consent)
            event = "consent.revoked"
    elif consent is None:
        consent = Consent(user=user, client=client, scope=scope, resources=[])
        db.session.add(consent)
        event = "consent.granted"
    elif consent.scope != scope:
        consent.scope = scope
        event = "consent.changed"
    if scope and resources and consent is not None:
        # Resources the person let the app reach (RFC 8707); the page named each of them.
        merged = list(dict.fromkeys([*(consent.resources or []), *resources]))
        if merged != (consent.resources or []):
            consent.resources = merged
    if event is not None:
        audit.record(
            event,
            user=user,
            client_id=client.client_id,
            address=address,
            scope=scope,
            withdrawn=join_scopes(withdrawn) or None,
        )
    db.session.flush()


def take_back(user: User, client: Client, scope: str) -> int:
    """What taking ``scope`` back does to what was issued: every access token carrying it is
    revoked at once, grants holding it keep only the rest (``tokens.withdraw_scope``), and codes
    not yet redeemed with it are discarded. The number of grants touched; the caller holds the
    person's lock and changes the consent itself."""
    touched = withdraw_scope(user, client, scope)
    discard_pending_codes(user, client, having_scope=scope)
    return touched


def connected_apps(user: User) -> list[Consent]:
    return list(
        db.session.scalars(
            select(Consent).where(Consent.user_id == user.id).order_by(Consent.created_at)
        )
    )


def revoke_consent(user: User, client: Client, address: str | None = None) -> bool:
    """Forget the consent and revoke every token the client holds for the user."""
    locks.lock_person(user.id)  # before reading anything: see ``locks``
    consent = find_consent(user, client)
    families = revoke_families_of(user, client)
    # A code already handed out but not yet exchanged must not turn into tokens afterwards.
    codes = discard_pending_codes(user, client)
    if consent is not None:
        db.session.delete(consent)
    if consent is None and families + codes == 0:
        return False
    audit.record(
        "consent.revoked",
        user=user,
        client_id=client.client_id,
        address=address,
        token_families_revoked=families,
    )
    return True


def revoke_scope(user: User, client: Client, scope: str, address: str | None = None) -> bool:
    """Take one scope back: the consent loses it, every access token carrying it is revoked at
    once and the grants holding it keep only the rest (``tokens.withdraw_scope``); codes not yet
    redeemed with it are discarded. The app may ask for it again later. False if not granted."""
    locks.lock_person(user.id)  # before reading anything: see ``locks``
    consent = find_consent(user, client)
    if consent is None or scope not in scope_list(consent.scope):
        return False
    families = take_back(user, client, scope)
    rest = [s for s in scope_list(consent.scope) if s != scope]
    if rest:
        consent.scope = join_scopes(rest)
    else:
        db.session.delete(consent)
    audit.record(
        "consent.scope_revoked",
        user=user,
        client_id=client.client_id,
        address=address,
        scope=scope,
        token_families_revoked=families,
    )
    db.session.flush()
    return True


def note_use(user_id: int, client_id: int) -> None:
    """A token was issued to the client for the user: note when (at most once a minute), with
    one conditional ``UPDATE`` in the token request's own unit of work."""
    now = clock.now()
    db.session.execute(
        update(Consent)
        .where(
            Consent.user_id == user_id,
            Consent.client_id == client_id,
            or_(Consent.last_used_at.is_(None), Consent.last_used_at <= now - TOUCH_INTERVAL),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
