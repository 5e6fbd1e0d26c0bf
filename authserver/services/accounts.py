"""A person's own account, through mailed links: verify the address, reset a forgotten
password, change password or address, delete the account (SPEC "Mail and accounts").

Every mail is queued (``outbox.queue_mail``) in the transaction of its cause; every change that
decides something about the person takes the person's lock first (``locks.py``). Links:
``links.py``; what each one's page shows: ``views/mail_links.py`` and ``views/security.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import current_app

from .. import clock
from ..extensions import db
from ..models import User
from ..security.addresses import email_key
from ..security.passwords import check_password, hash_password
from . import ServiceError, audit, clients, links, locks, outbox, sessions, tokens, users

#: Where each mailed link leads (the SPEC's endpoint rows).
VERIFY_PATH = "/signup/verify"
RESET_PATH = "/password/reset"


class LinkRefused(ServiceError):
    """A link that cannot be used (any more): ``state`` says why, for a page that tells."""

    def __init__(self, state: links.LinkState) -> None:
        super().__init__("This link cannot be used.")
        self.state = state


class WrongPassword(ServiceError):
    def __init__(self) -> None:
        super().__init__("That is not your current password.", "current_password")


def link_url(path: str, token: str, next_url: str | None = None) -> str:
    query = {"token": token, **({"next": next_url} if next_url else {})}
    return f"{current_app.config['ISSUER']}{path}?{urlencode(query)}"


def _actor(user: User) -> str:
    return f"user:{user.subject}"


# --- sign-up ------------------------------------------------------------------------------------


def send_verification(user: User, next_url: str | None = None) -> None:
    """Mail ``user`` a link that verifies their address (and signs them in)."""
    token = links.issue(user, "verify", new_email=user.email)
    outbox.queue_mail(
        user.email, "verify_email", link=link_url(VERIFY_PATH, token, next_url), name=user.name
    )
    audit.record("email.verification_sent", user=user)


def tell_owner_of_taken_signup(user: User) -> None:
    """Someone signed up with ``user``'s address: they get a mail saying so, with a reset link
    (the same work as a new account's mail, so neither the page nor its timing differs)."""
    token = links.issue(user, "reset")
    outbox.queue_mail(user.email, "signup_taken", link=link_url(RESET_PATH, token))


@dataclass(frozen=True)
class Followed:
    user: User
    purpose: str  # "verify" or "change_email"


def follow_address_link(token: str | None, address: str | None = None) -> Followed:
    """The link of a verification or new-address mail: the address is verified (or the
    account moves to the new one). Raises LinkRefused."""
    owner = links.owner(token, ("verify", "change_email"))
    if owner is None or not locks.lock_person(owner.user_id):
        raise LinkRefused(links.state(token, ("verify", "change_email")))
    link = links.use(token, ("verify", "change_email"))
    if link is None:
        raise LinkRefused(links.state(token, ("verify", "change_email")))
    user = db.session.get_one(User, link.user_id)
    db.session.refresh(user)
    now = clock.now()
    if link.purpose == "verify":
        if link.new_email != user.email:  # mailed to an address the account has since left
            raise LinkRefused(links.LinkState.EXPIRED)
        if user.email_verified_at is None:
            user.email_verified_at = now
        audit.record("email.verified", user=user, actor=_actor(user), address=address)
        return Followed(user, "verify")
    new_email = link.new_email or ""
    holder = users.find_by_email(new_email)
    if holder is not None and holder.id != user.id:
        # Taken since the mail went out (a sign-up in between): the account keeps its address.
        raise LinkRefused(links.LinkState.EXPIRED)
    user.email = new_email
    user.email_key = email_key(new_email)
    user.email_verified_at = now
    links.withdraw(user, "change_email")
    links.withdraw(user, "verify")
    audit.record("email.changed", user=user, actor=_actor(user), address=address)
    db.session.flush()
    return Followed(user, "change_email")


# --- forgotten passwords ------------------------------------------------------------------------


def request_password_reset(email: str, address: str | None = None) -> None:
    """ "Forgot password": queue the request itself, whatever the address.

    Every address gets the same page and the very same work (one sealed outbox row): whether
    it has an account is looked up later, in the background (``handle_reset_request``), so
    neither the answer nor its timing can tell.
    """
    outbox.enqueue(RESET_REQUEST, email[:320], {"email": email[:320], "address": address})


#: The outbox kind of a "forgot password" waiting to be looked at.
RESET_REQUEST = "reset_request"


def handle_reset_request(payload: dict, config: Mapping) -> None:
    """The outbox's deliverer for ``RESET_REQUEST``: a link and its mail for the account of the
    address, if there is one it may have (flushed; committed with the request's outcome)."""
    address = payload.get("address")
    user = users.find_by_email(str(payload.get("email", "")))
    if user is None or user.disabled_at is not None:
        audit.record("password.reset_requested", outcome="refused", address=address)
        return
    token = links.issue(user, "reset")
    outbox.queue_mail(user.email, "password_reset", link=link_url(RESET_PATH, token))
    audit.record("password.reset_requested", user=user, actor="anonymous", address=address)


def reset_link_state(token: str | None) -> links.LinkState:
    return links.state(token, ("reset",))


def reset_password(token: str | None, password: str, address: str | None = None) -> User:
    """Set a new password from a reset link: every session and every token of the person ends,
    older reset links die, and a mail says so. Raises LinkRefused or ServiceError (a password
    the rules refuse; the link stays usable then, as the caller rolls back)."""
    users.validate_password(password)
    owner = links.owner(token, ("reset",))
    # The person's lock before the link's row, as everything deciding about a person does.
    if owner is None or not locks.lock_person(owner.user_id):
        raise LinkRefused(reset_link_state(token))
    link = links.use(token, ("reset",))
    if link is None:  # used by a simultaneous request that got the lock first, or expired
        raise LinkRefused(reset_link_state(token))
    user = db.session.get_one(User, link.user_id)
    db.session.refresh(user)
    user.password_hash = hash_password(password, current_app.config["BCRYPT_ROUNDS"])
    ended = sessions.end_all_sessions(user)
    revoked = tokens.revoke_everything(user=user)
    links.withdraw(user, "reset")
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()  # the link reached the address: it is theirs
    outbox.queue_mail(user.email, "password_changed", reset=True)
    audit.record(
        "password.reset", user=user, actor=_actor(user), address=address, sessions=ended, **revoked
    )
    db.session.flush()
    return user


# --- the account page ---------------------------------------------------------------------------


def check_current_password(user: User, password: str) -> None:
    """The person proves they are at the keyboard again (not merely holding a session cookie)
    before a change that weakens or ends their account: WrongPassword unless ``password`` is
    their current one. Throttled by the caller (``throttling.account_password_attempts``)."""
    if not password or len(password) > 1000 or not check_password(password, user.password_hash):
        raise WrongPassword()


def change_password(
    user: User, current: str, new: str, keep_sid: str | None, address: str | None = None
) -> int:
    """A new password for a signed-in person who knows the current one: their other sessions
    end (this one stays), a mail says so. How many sessions ended."""
    check_current_password(user, current)
    users.validate_password(new)
    locks.lock_person(user.id)
    user.password_hash = hash_password(new, current_app.config["BCRYPT_ROUNDS"])
    ended = sessions.end_all_sessions(user, keep_sid=keep_sid)
    links.withdraw(user, "reset")
    outbox.queue_mail(user.email, "password_changed", reset=False)
    audit.record("password.changed", user=user, actor=_actor(user), address=address, sessions=ended)
    db.session.flush()
    return ended


def request_email_change(
    user: User, password: str, new_email: str, address: str | None = None
) -> None:
    """Mail a confirmation link to ``new_email`` and a notice to the current address; nothing
    changes until the link is followed. An address that has an account answers alike (and
    gets no mail): this page must not tell who has one either."""
    check_current_password(user, password)
    new_email = users.validate_email(new_email)
    if new_email == user.email:
        raise ServiceError("That is already your address.", "email")
    holder = users.find_by_email(new_email)
    if holder is None:
        token = links.issue(user, "change_email", new_email=new_email)
        outbox.queue_mail(new_email, "email_change", link=link_url(VERIFY_PATH, token))
    outbox.queue_mail(user.email, "email_change_notice", new_email=new_email)
    audit.record("email.change_requested", user=user, actor=_actor(user), address=address)


def delete_account(user: User, password: str, address: str | None = None) -> None:
    """The person deletes their own account: sessions, consents, tokens and links go with it
    (ON DELETE CASCADE, after revoking, so introspection answers inactive at once); a mail
    confirms. A developer deletes their apps first (their users depend on them)."""
    check_current_password(user, password)
    owned = clients.clients_of(user)
    if owned:
        raise ServiceError(
            f"You own {len(owned)} app(s) in the developer console: delete them first, since "
            "the people who use them would lose them."
        )
    locks.lock_person(user.id)
    tokens.revoke_everything(user=user)
    sessions.end_all_sessions(user)
    outbox.queue_mail(user.email, "account_deleted")
    audit.record(
        "user.deleted", user_id=None, actor=_actor(user), address=address, sub=user.subject
    )
    db.session.delete(user)
    db.session.flush()


# --- the operator -------------------------------------------------------------------------------


def mark_verified(user: User, actor: str = "operator") -> bool:
    """The operator vouches for the address; False if it already was verified."""
    if user.email_verified_at is not None:
        return False
    user.email_verified_at = clock.now()
    audit.record("email.verified", user=user, actor=actor)
    db.session.flush()
    return True


def send_reset(user: User, actor: str = "operator") -> None:
    """Mail the person a reset link (they asked the operator for help)."""
    token = links.issue(user, "reset")
    outbox.queue_mail(user.email, "password_reset", link=link_url(RESET_PATH, token))
    audit.record("password.reset_requested", user=user, actor=actor)
