"""People's accounts."""

from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import User
from ..security.addresses import email_key, is_invisible, normalize_email
from ..security.passwords import burn_password_check, check_password, hash_password
from . import ServiceError
from .sessions import end_all_sessions

# Deliberately loose: the only real test of an address is mail reaching it.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def has_control_characters(value: str) -> bool:
    """NUL and friends: never part of a name or address, and PostgreSQL refuses NUL outright."""
    return any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value)


def validate_email(email: str) -> str:
    """The address normalized, or ServiceError if it cannot be one."""
    email = normalize_email(email)
    if (
        not _EMAIL.match(email)
        or len(email) > 320
        or has_control_characters(email)
        # Zero-width spaces, bidirectional overrides: an address that shows as another one.
        or any(is_invisible(ch) for ch in email)
    ):
        raise ServiceError("Enter a valid email address.", "email")
    return email


def validate_password(password: str) -> None:
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        raise ServiceError(f"Use a password of at least {minimum} characters.", "password")
    if len(password) > 1000:
        raise ServiceError("That password is too long (1000 characters at most).", "password")


def validate_new_account(email: str, password: str, name: str) -> str:
    email = validate_email(email)
    validate_password(password)
    if len(name) > 200:
        raise ServiceError("Keep the name under 200 characters.", "name")
    if has_control_characters(name):
        raise ServiceError("A name cannot contain control characters.", "name")
    return email


class EmailTaken(ServiceError):
    """The address, or one that reads alike (``security.addresses.email_skeleton``), has an
    account already (the operator's CLI may say so; a web page must not)."""

    def __init__(self, user: User) -> None:
        super().__init__("An account with this email already exists.", "email")
        self.user = user


def create_user(email: str, password: str, name: str = "") -> User:
    """A new account; raises EmailTaken (after the same bcrypt work) if the address has one."""
    email = validate_new_account(email, password, name)
    existing = find_by_email(email)
    if existing is not None:
        # The same ~300 ms as a real sign-up, so timing does not tell the two apart either.
        burn_password_check(password, current_app.config["BCRYPT_ROUNDS"])
        raise EmailTaken(existing)
    password_hash = hash_password(password, current_app.config["BCRYPT_ROUNDS"])
    user_id = _insert_unless_taken(
        email=email, email_key=email_key(email), name=name.strip(), password_hash=password_hash
    )
    if user_id is None:
        # A simultaneous sign-up with this address committed after the look-up above: this is
        # a sign-up of a taken address (the insert waited for it and did nothing).
        existing = find_by_email(email)
        if existing is None:  # the random ``subject`` collided: not a person's doing
            raise RuntimeError("A new account's subject collided with an existing one.")
        raise EmailTaken(existing)
    return db.session.get_one(User, user_id)


def _insert_unless_taken(**values: str) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING: the new row's id, or None when a unique column is taken.

    No unique violation is raised, so the caller's transaction (and the request) goes on, on
    PostgreSQL too, where a failed statement would abort it."""
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(User)
    statement = insert.values(**values).on_conflict_do_nothing().returning(User.id)
    return db.session.execute(statement).scalar_one_or_none()


def set_password(user: User, password: str) -> None:
    """Change the password and end every login session: whoever knew the old one is out."""
    user.password_hash = hash_password(password, current_app.config["BCRYPT_ROUNDS"])
    end_all_sessions(user)


def find_by_email(email: str) -> User | None:
    """The account of this address, else of one that reads alike (same skeleton,
    ``security.addresses.email_skeleton``)."""
    email = normalize_email(email)
    if not email or len(email) > 320 or has_control_characters(email):
        return None  # no account can have it, and PostgreSQL would refuse a NUL in the query
    found = db.session.scalars(
        select(User).where(or_(User.email == email, User.email_key == email_key(email)))
    ).all()
    # Two can match only where look-alike accounts made before keys existed share one: the
    # key stayed with the oldest (migration 0008), and each is still found by its own address.
    return next((user for user in found if user.email == email), found[0] if found else None)


def authenticate(email: str, password: str) -> User | None:
    """The user if email and password match; None otherwise, taking the same time either way."""
    user = find_by_email(email)
    if user is None:
        burn_password_check(password, current_app.config["BCRYPT_ROUNDS"])
        return None
    if not check_password(password, user.password_hash):
        return None
    # Checked after the password, so a disabled account answers as slowly as any other.
    return user if user.disabled_at is None else None


def all_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.created_at, User.id)))
