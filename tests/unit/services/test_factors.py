"""Second factors called directly: TOTP enrolment and replay, recovery codes, the secret at
rest, the operator's reset. Each test runs in a transaction that is rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuditEvent, RecoveryCode, TotpCredential, User
from authserver.security.key_wrapping import KeyUnavailable
from authserver.services import accounts, factors, operator
from tests import factories
from tests.conftest import FakeClock

pytestmark = pytest.mark.usefixtures("rolled_back")


@pytest.fixture
def clock(service_app: Flask) -> Iterator[FakeClock]:
    # In the middle of a 30-second step, so "one step either side" is unambiguous.
    fake = FakeClock(datetime(2026, 12, 5, 12, 0, 15, tzinfo=UTC))
    original = service_app.config["CLOCK"]
    service_app.config["CLOCK"] = fake
    yield fake
    service_app.config["CLOCK"] = original


@pytest.fixture
def person() -> User:
    return db.session.get_one(User, factories.make_user().id)


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


def enrolled(person: User, clock: FakeClock) -> tuple[str, list[str]]:
    secret = factors.start_totp(person)
    codes = factors.confirm_totp(person, code_at(secret, clock()))
    assert codes is not None
    clock.advance(30)  # the confirming code's step is used up
    return secret, codes


def events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def test_the_secret_is_stored_encrypted_and_only_for_its_person(
    person: User, clock: FakeClock
) -> None:
    secret = factors.start_totp(person)
    row = db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == person.id))
    assert row is not None
    assert secret not in row.encrypted_secret
    assert factors.secret_of(row) == secret
    other = db.session.get_one(User, factories.make_user().id)
    factors.start_totp(other)
    theirs = db.session.scalar(select(TotpCredential).where(TotpCredential.user_id == other.id))
    assert theirs is not None
    theirs.encrypted_secret = row.encrypted_secret  # copied onto another row: useless there
    with pytest.raises(KeyUnavailable):
        factors.secret_of(theirs)


def test_enrolment_ends_with_one_valid_code_and_gives_ten_recovery_codes(
    person: User, clock: FakeClock
) -> None:
    secret = factors.start_totp(person)
    assert not factors.has_second_factor(person)  # pending: not a factor yet
    wrong = "000000" if code_at(secret, clock()) != "000000" else "111111"
    assert factors.confirm_totp(person, wrong) is None
    assert events("mfa.totp_confirm_failed")
    codes = factors.confirm_totp(person, code_at(secret, clock()))
    assert codes is not None and len(codes) == 10 and len(set(codes)) == 10
    assert factors.has_second_factor(person)
    stored = set(db.session.scalars(select(RecoveryCode.code_hash)))
    assert not stored & {c.replace("-", "") for c in codes}  # hashes only


def test_a_confirmed_authenticator_is_not_replaced_without_removing_it(
    person: User, clock: FakeClock
) -> None:
    enrolled(person, clock)
    with pytest.raises(factors.AlreadyEnrolled):
        factors.start_totp(person)


def test_a_code_is_accepted_once(person: User, clock: FakeClock) -> None:
    secret, _ = enrolled(person, clock)
    code = code_at(secret, clock())
    assert factors.check_code(person, code) == factors.Accepted("otp")
    assert factors.check_code(person, code) is None  # replayed
    assert events("mfa.failed")


def test_after_a_code_an_earlier_steps_code_is_refused(person: User, clock: FakeClock) -> None:
    secret, _ = enrolled(person, clock)
    earlier = code_at(secret, clock() - timedelta(seconds=30))
    assert factors.check_code(person, code_at(secret, clock())) is not None
    assert factors.check_code(person, earlier) is None


def test_one_step_of_drift_either_way_is_accepted_two_are_not(
    person: User, clock: FakeClock
) -> None:
    secret, _ = enrolled(person, clock)
    clock.advance(60)  # well past the step the enrolment used
    now = clock()
    assert factors.check_code(person, code_at(secret, now - timedelta(seconds=30))) is not None
    assert factors.check_code(person, code_at(secret, now + timedelta(seconds=60))) is None
    assert factors.check_code(person, code_at(secret, now + timedelta(seconds=30))) is not None


def test_codes_that_are_not_six_digits_are_refused(person: User, clock: FakeClock) -> None:
    enrolled(person, clock)
    for code in ("", "12345", "1234567", "１２３４５６", "abcdef", "12 34 5"):
        assert factors.check_code(person, code) is None


def test_a_recovery_code_works_once_however_it_is_typed(person: User, clock: FakeClock) -> None:
    _, codes = enrolled(person, clock)
    typed = " " + codes[0].upper().replace("-", " ") + " "
    accepted = factors.check_code(person, typed)
    assert accepted == factors.Accepted("otp", recovery_code=True)
    assert factors.check_code(person, codes[0]) is None
    assert factors.recovery_codes_left(person) == 9
    assert factors.check_code(person, codes[1]) is not None


def test_someone_elses_recovery_code_does_not_work(person: User, clock: FakeClock) -> None:
    _, codes = enrolled(person, clock)
    other = db.session.get_one(User, factories.make_user().id)
    enrolled(other, clock)
    assert factors.check_code(other, codes[0]) is None
    assert factors.recovery_codes_left(person) == 10


def test_new_recovery_codes_void_the_old_ones(person: User, clock: FakeClock) -> None:
    _, old = enrolled(person, clock)
    new = factors.regenerate_recovery_codes(person, factories.PASSWORD)
    assert new is not None and not set(new) & set(old)
    assert factors.check_code(person, old[0]) is None
    assert factors.check_code(person, new[0]) is not None


def test_no_recovery_codes_without_a_factor(person: User) -> None:
    assert factors.regenerate_recovery_codes(person, factories.PASSWORD) is None


def test_removing_the_authenticator_removes_the_recovery_codes(
    person: User, clock: FakeClock
) -> None:
    _, codes = enrolled(person, clock)
    assert factors.remove_totp(person, factories.PASSWORD)
    assert not factors.has_second_factor(person)
    assert factors.check_code(person, codes[0]) is None


@pytest.mark.parametrize("password", ["not the password", "", "x" * 1001])
def test_a_wrong_password_removes_nothing_and_makes_no_codes(
    person: User, clock: FakeClock, password: str
) -> None:
    _, codes = enrolled(person, clock)
    with pytest.raises(accounts.WrongPassword):
        factors.remove_totp(person, password)
    with pytest.raises(accounts.WrongPassword):
        factors.regenerate_recovery_codes(person, password)
    assert factors.has_totp(person)
    assert factors.recovery_codes_left(person) == 10
    assert events("mfa.totp_removed") == [] and events("mfa.recovery_codes_renewed") == []
    assert factors.check_code(person, codes[0]) is not None  # the old codes still work


def test_the_operator_resets_every_factor_and_ends_the_sessions(
    person: User, clock: FakeClock
) -> None:
    enrolled(person, clock)
    removed = operator.reset_mfa(person)
    assert removed["totp"] == 1 and removed["recovery_codes"] == 10
    assert not factors.has_second_factor(person)
    (event,) = events("mfa.reset")
    assert event.actor == "operator"
