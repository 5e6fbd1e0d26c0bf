"""People's accounts."""

from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import User
from ..security.passwords import burn_password_check, check_password, hash_password
from . import ServiceError

# Deliberately loose: the only real test of an address is mail reaching it.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def validate_new_account(email: str, password: str, name: str) -> str:
    email = normalize_email(email)
    if not _EMAIL.match(email) or len(email) > 320:
        raise ServiceError("Enter a valid email address.", "email")
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        raise ServiceError(f"Use a password of at least {minimum} characters.", "password")
    if len(password) > 1000:
        raise ServiceError("That password is too long (1000 characters at most).", "password")
    if len(name) > 200:
        raise ServiceError("Keep the name under 200 characters.", "name")
    if find_by_email(email) is not None:
        raise ServiceError("An account with this email already exists. Log in instead?", "email")
    return email


def create_user(email: str, password: str, name: str = "") -> User:
    email = validate_new_account(email, password, name)
    user = User(
        email=email,
        name=name.strip(),
        password_hash=hash_password(password, current_app.config["BCRYPT_ROUNDS"]),
    )
    db.session.add(user)
    db.session.commit()
    return user


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password, current_app.config["BCRYPT_ROUNDS"])
    db.session.commit()


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def authenticate(email: str, password: str) -> User | None:
    """The user if email and password match; None otherwise, taking the same time either way."""
    user = find_by_email(email)
    if user is None:
        burn_password_check(password, current_app.config["BCRYPT_ROUNDS"])
        return None
    return user if check_password(password, user.password_hash) else None
