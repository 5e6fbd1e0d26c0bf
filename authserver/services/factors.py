"""Second factors: TOTP (RFC 6238), recovery codes, and what a person has enrolled.

- TOTP: 30-second steps, 6 digits, SHA-1 (what every authenticator app reads from an
  ``otpauth://`` URI). The secret is stored encrypted (``security.key_wrapping``, bound to the
  person) and counts once one valid code confirmed it. A code is accepted for the current step
  and one either side (clock drift), and only for a step later than the last one accepted: a
  code is accepted once, and the check and the write happen under the person's lock
  (``services.locks``), so two simultaneous submissions of one code cannot both pass.
- Recovery codes: ten, 80 bits each, shown once at enrolment and stored as SHA-256 hashes; each
  works once (a conditional ``UPDATE`` claims it).

Guessing is throttled in the views (``throttling.second_factor_attempts``); every accepted or
refused code is audited here, without the code.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from flask import current_app
from sqlalchemy import delete, func, select, update

from .. import clock
from ..extensions import db
from ..models import Passkey, RecoveryCode, TotpCredential, User
from ..security import key_wrapping
from ..security.secrets import hash_secret
from . import accounts, audit, locks, rows_matched

TOTP_DIGITS = 6
TOTP_PERIOD = 30
#: Steps either side of now that still count: a phone's clock a little off, a code typed slowly.
TOTP_DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
#: Crockford-like: no 0/o, 1/l/i, so a code read off paper is typed right.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 16  # 16 characters of 31: 79 bits, enough that the stored hashes reveal none


@dataclass(frozen=True)
class Accepted:
    """A second factor passed: the RFC 8176 method it counts as."""

    method: str  # "otp" (an authenticator code or a recovery code)
    recovery_code: bool = False


# --- what a person has -------------------------------------------------------------------------


def totp_of(user: User) -> TotpCredential | None:
    return db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == user.id))


def has_totp(user: User) -> bool:
    credential = totp_of(user)
    return credential is not None and credential.confirmed_at is not None


def passkeys_of(user: User) -> list[Passkey]:
    return list(
        db.session.scalars(
            select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at)
        )
    )


def has_second_factor(user: User) -> bool:
    """Whether a password alone no longer signs this person in."""
    return has_totp(user) or bool(passkeys_of(user))


def mailed_link_signs_in(user: User) -> bool:
    """Whether following a mailed link (a verification or new-address link) signs the person in:
    only where a password alone would. The mailbox must not stand in for a second factor, so a
    person with one verifies the address and then logs in with both."""
    return not has_second_factor(user)


def recovery_codes_left(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


# --- TOTP enrolment ----------------------------------------------------------------------------


def _secret_label(user: User) -> str:
    # The associated data of the encryption: a ciphertext moved onto another person's row does
    # not decrypt.
    return f"totp:{user.subject}"


def _ring() -> key_wrapping.KeyRing:
    return key_wrapping.key_ring(current_app.config)


def secret_of(credential: TotpCredential) -> str:
    return key_wrapping.unwrap(credential.encrypted_secret, _secret_label(credential.user), _ring())


class AlreadyEnrolled(Exception):
    """The person has a confirmed authenticator: remove it before setting up another."""


def start_totp(user: User) -> str:
    """A new secret for ``user``'s authenticator, pending until a code confirms it (replacing an
    earlier pending one); the caller commits. Refused while a confirmed one exists."""
    locks.lock_person(user.id)
    credential = totp_of(user)
    if credential is not None and credential.confirmed_at is not None:
        raise AlreadyEnrolled()
    secret = pyotp.random_base32(32)  # 160 bits, RFC 4226 §4's recommendation
    stored = key_wrapping.wrap(secret, _secret_label(user), _ring())
    if credential is None:
        credential = TotpCredential(user=user, encrypted_secret=stored, created_at=clock.now())
        db.session.add(credential)
    else:
        credential.encrypted_secret = stored
        credential.created_at = clock.now()
        credential.last_used_step = None
    db.session.flush()
    return secret


def pending_secret(user: User) -> str | None:
    """The secret being set up (not yet confirmed), to show again; None if there is none."""
    credential = totp_of(user)
    if credential is None or credential.confirmed_at is not None:
        return None
    return secret_of(credential)


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as text or as a QR code)."""
    issuer = _issuer_host()
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).provisioning_uri(
        name=user.email, issuer_name=issuer
    )


def _issuer_host() -> str:
    issuer = str(current_app.config["ISSUER"])
    return issuer.split("://", 1)[-1].split("/", 1)[0]


def confirm_totp(user: User, code: str, address: str | None = None) -> list[str] | None:
    """Confirm the pending authenticator with one valid code: the ten recovery codes (shown
    once), or None for a wrong code. The caller commits."""
    locks.lock_person(user.id)
    credential = totp_of(user)
    if credential is None or credential.confirmed_at is not None:
        return None
    step = _matching_step(secret_of(credential), code, credential.last_used_step)
    if step is None:
        audit.record("mfa.totp_confirm_failed", outcome="failure", user=user, address=address)
        return None
    credential.confirmed_at = clock.now()
    credential.last_used_step = step
    codes = new_recovery_codes(user)
    audit.record("mfa.totp_enrolled", user=user, address=address)
    db.session.flush()
    return codes


def remove_totp(user: User, password: str, address: str | None = None) -> bool:
    """Take the authenticator away (and the recovery codes, unless a passkey remains), once the
    current password is given again (``accounts.WrongPassword`` otherwise: a session alone must
    not strip the account of its second factor)."""
    accounts.check_current_password(user, password)
    locks.lock_person(user.id)
    removed = rows_matched(
        delete(TotpCredential)
        .where(TotpCredential.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    if not removed:
        return False
    if not passkeys_of(user):
        delete_recovery_codes(user)
    audit.record("mfa.totp_removed", user=user, address=address)
    return True


# --- checking a code ---------------------------------------------------------------------------


def _normalized(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _matching_step(secret: str, code: str, last_used_step: int | None) -> int | None:
    """The time step ``code`` is valid for (now, or one step either side), if later than
    ``last_used_step``; None otherwise. Every candidate is compared, in constant time."""
    code = _normalized(code)
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    now_step = current_step(clock.now())
    found = None
    for step in range(now_step - TOTP_DRIFT_STEPS, now_step + TOTP_DRIFT_STEPS + 1):
        expected = totp.generate_otp(step)
        if hmac.compare_digest(expected.encode(), code.encode()) and (
            last_used_step is None or step > last_used_step
        ):
            found = step
    return found


def current_step(moment: datetime) -> int:
    return int(moment.timestamp()) // TOTP_PERIOD


def check_code(user: User, code: str, address: str | None = None) -> Accepted | None:
    """A code from the authenticator, or a recovery code, as the login's second step: what it
    counts as, or None (audited either way; the caller commits). Under the person's lock, so a
    code is accepted once even when sent twice at the same moment."""
    locks.lock_person(user.id)
    credential = totp_of(user)
    if credential is not None and credential.confirmed_at is not None:
        db.session.refresh(credential)  # as committed now, after the lock
        step = _matching_step(secret_of(credential), code, credential.last_used_step)
        if step is not None:
            credential.last_used_step = step
            audit.record("mfa.passed", user=user, address=address, method="totp")
            db.session.flush()
            return Accepted("otp")
    if _use_recovery_code(user, code):
        left = recovery_codes_left(user)
        audit.record(
            "mfa.passed", user=user, address=address, method="recovery_code", codes_left=left
        )
        return Accepted("otp", recovery_code=True)
    audit.record("mfa.failed", outcome="failure", user=user, address=address)
    return None


# --- recovery codes ----------------------------------------------------------------------------


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, _RECOVERY_LENGTH, 4))


def delete_recovery_codes(user: User) -> None:
    db.session.execute(
        delete(RecoveryCode)
        .where(RecoveryCode.user_id == user.id)
        .execution_options(synchronize_session=False)
    )


def new_recovery_codes(user: User) -> list[str]:
    delete_recovery_codes(user)
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    now = clock.now()
    for code in codes:
        db.session.add(
            RecoveryCode(user_id=user.id, code_hash=hash_secret(_normalized(code)), created_at=now)
        )
    db.session.flush()
    return codes


def regenerate_recovery_codes(
    user: User, password: str, address: str | None = None
) -> list[str] | None:
    """Ten new codes, the old ones void; None for a person with no second factor. Asks for the
    current password (``accounts.WrongPassword``): whoever holds new codes holds a factor."""
    if not has_second_factor(user):
        return None
    accounts.check_current_password(user, password)
    locks.lock_person(user.id)
    codes = new_recovery_codes(user)
    audit.record("mfa.recovery_codes_renewed", user=user, address=address)
    return codes


def _use_recovery_code(user: User, code: str) -> bool:
    normalized = _normalized(code)
    if len(normalized) != _RECOVERY_LENGTH or not normalized.isascii():
        return False
    # The hash is the lookup key (an equality on a 256-bit digest leaks nothing useful by
    # timing); the conditional UPDATE makes it single-use.
    return bool(
        rows_matched(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == hash_secret(normalized),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=clock.now())
            .execution_options(synchronize_session=False)
        )
    )


# --- the operator ------------------------------------------------------------------------------


def reset_all(user: User) -> dict[str, int]:
    """Remove every second factor and passkey of ``user`` (the operator's ``users reset-mfa``,
    for a person who lost them); the caller audits and commits."""
    locks.lock_person(user.id)
    removed = {}
    for name, model in (
        ("totp", TotpCredential),
        ("recovery_codes", RecoveryCode),
        ("passkeys", Passkey),
    ):
        removed[name] = rows_matched(
            delete(model)
            .where(model.user_id == user.id)
            .execution_options(synchronize_session=False)
        )
    return removed
