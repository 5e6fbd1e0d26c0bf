"""Passkeys (WebAuthn, through py_webauthn): registering several, naming and removing them,
and checking one at sign-in — as a second factor, or alone for a discoverable credential.

Challenges are made here and kept by the caller (the signed session cookie, bound to this
browser), single-use and short-lived (``policy.PASSKEY_CHALLENGE_LIFETIME``); the relying
party comes from ``policy.relying_party``. The sign counter is checked as py_webauthn does: a
counter that goes backwards (a cloned authenticator) fails, and is audited as such.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, generate_challenge
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from .. import clock, policy
from ..extensions import db
from ..models import Passkey, User
from . import ServiceError, accounts, audit, factors, locks

#: Passkeys one person may register: enough for every device they own.
MAX_PASSKEYS = 20
NAME_LENGTH = 100


@dataclass(frozen=True)
class Ceremony:
    """Options for the browser (JSON) and the challenge to keep until the answer comes."""

    options_json: str
    challenge: str  # base64url


@dataclass(frozen=True)
class SignedIn:
    user: User
    passkey: Passkey
    methods: list[str]  # RFC 8176


def clean_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise ServiceError("Give the passkey a name, such as the device it is on.", "name")
    if len(name) > NAME_LENGTH or not name.isprintable():
        raise ServiceError(f"Use a name of at most {NAME_LENGTH} printable characters.", "name")
    return name


def _user_handle(user: User) -> bytes:
    # The opaque ``sub``: stable, random, and no personal data on the authenticator.
    return user.subject.encode()


def registration_options(user: User, rp: policy.RelyingParty, rp_name: str) -> Ceremony:
    challenge = generate_challenge()
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp_name,
        user_name=user.email,
        user_id=_user_handle(user),
        user_display_name=user.name or user.email,
        challenge=challenge,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,  # discoverable: sign in without a name
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in factors.passkeys_of(user)
        ],
    )
    return Ceremony(options_to_json(options), bytes_to_base64url(challenge))


def register(
    user: User,
    credential: object,
    name: str,
    challenge: str,
    rp: policy.RelyingParty,
    address: str | None = None,
) -> tuple[Passkey, bool]:
    """Keep a new passkey for ``user`` (the browser's answer to ``registration_options``), and
    whether it is the person's first factor (time for recovery codes); the caller commits."""
    name = clean_name(name)
    try:
        verified = verify_registration_response(
            credential=credential,  # type: ignore[arg-type]  # checked by py_webauthn
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        audit.record("passkey.register_failed", outcome="failure", user=user, address=address)
        raise ServiceError(f"The passkey could not be registered ({error}).") from None
    locks.lock_person(user.id)
    first_factor = not factors.has_second_factor(user)
    if len(factors.passkeys_of(user)) >= MAX_PASSKEYS:
        raise ServiceError(f"You have {MAX_PASSKEYS} passkeys; remove one first.")
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)):
        raise ServiceError("This passkey is registered already.")
    passkey = Passkey(
        user=user,
        credential_id=credential_id,
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        name=name,
        backup_eligible=verified.credential_device_type.value == "multi_device",
        rp_id=rp.id,
        created_at=clock.now(),
    )
    db.session.add(passkey)
    db.session.flush()
    audit.record("passkey.added", user=user, address=address, passkey=passkey.id)
    return passkey, first_factor


def owned(user: User, passkey_id: int) -> Passkey | None:
    """``user``'s passkey of that id; None if there is none or it is someone else's."""
    passkey = db.session.get(Passkey, passkey_id)
    return passkey if passkey is not None and passkey.user_id == user.id else None


def rename(user: User, passkey_id: int, name: str) -> bool:
    passkey = owned(user, passkey_id)
    if passkey is None:
        return False
    passkey.name = clean_name(name)
    return True


def remove(user: User, passkey_id: int, password: str, address: str | None = None) -> bool:
    """Remove one of ``user``'s passkeys (False: none of theirs has that id), once the current
    password is given again (``accounts.WrongPassword`` otherwise)."""
    if owned(user, passkey_id) is None:
        return False
    accounts.check_current_password(user, password)
    locks.lock_person(user.id)
    passkey = db.session.scalar(  # as committed now, after the lock
        select(Passkey)
        .where(Passkey.id == passkey_id, Passkey.user_id == user.id)
        .execution_options(populate_existing=True)
    )
    if passkey is None:  # removed by a simultaneous request
        return False
    db.session.delete(passkey)
    db.session.flush()
    if not factors.has_second_factor(user):
        factors.delete_recovery_codes(user)
    audit.record("passkey.removed", user=user, address=address, passkey=passkey_id)
    return True


def authentication_options(rp: policy.RelyingParty, user: User | None = None) -> Ceremony:
    """Options for a sign-in: for ``user``'s passkeys (a second factor), or for any
    discoverable one on the device (no user: a sign-in without a password)."""
    challenge = generate_challenge()
    allowed = (
        [
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in factors.passkeys_of(user)
        ]
        if user is not None
        else None
    )
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        allow_credentials=allowed,
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if user is None
            else UserVerificationRequirement.PREFERRED
        ),
    )
    return Ceremony(options_to_json(options), bytes_to_base64url(challenge))


def sign_in(
    credential: object,
    challenge: str,
    rp: policy.RelyingParty,
    user: User | None = None,
    address: str | None = None,
) -> SignedIn | None:
    """The person a passkey assertion proves, or None (audited). With ``user`` (the second
    step) it must be one of theirs; without, it is a sign-in on its own and must be
    user-verified (the device's PIN or biometric), or a found phone would be the whole
    account. The caller commits."""
    raw_id = credential.get("id") if isinstance(credential, dict) else None
    passkey = (
        db.session.scalar(select(Passkey).where(Passkey.credential_id == raw_id))
        if isinstance(raw_id, str) and len(raw_id) <= 1400
        else None
    )
    if passkey is None or (user is not None and passkey.user_id != user.id):
        audit.record(
            "passkey.failed", outcome="failure", user=user, address=address, reason="unknown"
        )
        return None
    owner = passkey.user
    try:
        verified = verify_authentication_response(
            credential=credential,  # type: ignore[arg-type]  # checked by py_webauthn
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=user is None,
        )
    except InvalidAuthenticationResponse as error:
        cloned = "sign count" in str(error).lower()
        audit.record(
            "passkey.clone_suspected" if cloned else "passkey.failed",
            outcome="failure",
            user=owner,
            address=address,
            passkey=passkey.id,
        )
        return None
    except (WebAuthnException, ValueError, TypeError, KeyError):
        audit.record("passkey.failed", outcome="failure", user=owner, address=address)
        return None
    if owner.disabled_at is not None:
        return None
    response = credential.get("response") if isinstance(credential, dict) else None
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if user is None and handle and base64url_to_bytes(str(handle)) != _user_handle(owner):
        audit.record("passkey.failed", outcome="failure", user=owner, address=address)
        return None
    locks.lock_person(owner.id)
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = clock.now()
    passkey.backup_eligible = passkey.backup_eligible or verified.credential_backed_up
    methods = policy.passkey_methods(passkey.backup_eligible, verified.user_verified)
    audit.record("passkey.used", user=owner, address=address, passkey=passkey.id)
    return SignedIn(owner, passkey, methods)
