"""Login throttling counts guessing, not people: failed attempts, per account and per address,
in storage every worker and node shares."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from authserver import ratelimit, throttling
from authserver.extensions import limiter
from authserver.services import users
from tests import factories
from tests.databases import IN_CI, empty_tables
from tests.helpers import csrf_token

OFFICE = "203.0.113.7"  # one NAT address for a whole office
ELSEWHERE = "198.51.100.20"
WRONG = "definitely not the password"


def login_from(
    client: FlaskClient, address: str, email: str, password: str, **headers: str
) -> TestResponse:
    environ = {"REMOTE_ADDR": address}
    page = client.get("/login", environ_base=environ, headers=headers)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.data)},
        environ_base=environ,
        headers=headers,
    )


def test_sixty_people_behind_one_address_all_log_in(app):
    """A successful login is never refused for volume: an office behind one NAT address, or a
    test suite logging users in quickly, must not be locked out by its own successes."""
    with app.app_context():
        people = [factories.make_user() for _ in range(60)]

    answers = [
        login_from(app.test_client(), OFFICE, person.email, person.password).status_code
        for person in people
    ]

    assert answers == [302] * 60


def test_guessing_one_account_is_refused_but_other_accounts_still_log_in(app, user):
    """OWASP Authentication Cheat Sheet: throttle guessing per account, without letting one
    attacker lock everybody behind the same address out."""
    with app.app_context():
        colleague = factories.make_user()
    attacker = app.test_client()

    answers = [login_from(attacker, OFFICE, user.email, WRONG).status_code for _ in range(30)]

    assert answers[:10] == [400] * 10
    assert answers[10:] == [429] * 20
    # Past the limit even the right password waits, from that address...
    assert login_from(app.test_client(), OFFICE, user.email, user.password).status_code == 429
    # ...while a colleague behind the same address logs in, and so does the owner elsewhere.
    assert (
        login_from(app.test_client(), OFFICE, colleague.email, colleague.password).status_code
        == 302
    )
    assert login_from(app.test_client(), ELSEWHERE, user.email, user.password).status_code == 302


def test_the_refusal_says_when_to_try_again(app, user):
    """RFC 6585 §4: 429 MAY include Retry-After; the page says it in words."""
    client = app.test_client()
    for _ in range(10):
        login_from(client, OFFICE, user.email, WRONG)

    refused = login_from(client, OFFICE, user.email, WRONG)

    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= 15 * 60 + 1
    text = refused.get_data(as_text=True)
    assert "Too many attempts" in text
    assert "try again in" in text and "minute" in text
    assert refused.mimetype == "text/html"


def test_the_account_may_try_again_when_the_window_is_over(app, user, monkeypatch):
    client = app.test_client()
    for _ in range(10):
        login_from(client, OFFICE, user.email, WRONG)
    assert login_from(client, OFFICE, user.email, user.password).status_code == 429

    later = ratelimit.time.time() + 15 * 60 + 1
    monkeypatch.setattr(ratelimit.time, "time", lambda: later)
    monkeypatch.setattr("limits.strategies.time.time", lambda: later, raising=False)

    assert login_from(client, OFFICE, user.email, user.password).status_code == 302


def test_many_accounts_guessed_from_one_address_are_refused(app):
    """Credential stuffing: failures over all accounts from one address are capped too."""
    client = app.test_client()
    answers = [
        login_from(client, OFFICE, f"nobody{n}@example.com", WRONG).status_code for n in range(101)
    ]
    assert answers[:100] == [400] * 100
    assert answers[100] == 429


def test_two_workers_share_one_budget(app, test_database, tmp_path):
    """Counters live in the database, not in each process: a second worker does not double the
    attempts an attacker gets."""
    from tests.conftest import _make_app

    other_worker = _make_app(test_database, tmp_path / "other")
    with app.app_context():
        victim = factories.make_user()
    for n in range(10):
        worker = app if n % 2 else other_worker
        assert login_from(worker.test_client(), OFFICE, victim.email, WRONG).status_code == 400

    assert login_from(app.test_client(), OFFICE, victim.email, WRONG).status_code == 429
    assert login_from(other_worker.test_client(), OFFICE, victim.email, WRONG).status_code == 429
    _dispose(other_worker)


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXIES": 1}])
def test_behind_a_trusted_proxy_the_client_address_counts(app, user):
    """With AUTHSERVER_TRUSTED_PROXIES=1 the address is the client's (X-Forwarded-For), not the
    load balancer's, so one guesser does not lock out everyone behind the balancer."""
    balancer = "10.0.0.2"
    for _ in range(10):
        login_from(app.test_client(), balancer, user.email, WRONG, **{"X-Forwarded-For": OFFICE})

    from_attacker = login_from(
        app.test_client(), balancer, user.email, user.password, **{"X-Forwarded-For": OFFICE}
    )
    from_owner = login_from(
        app.test_client(), balancer, user.email, user.password, **{"X-Forwarded-For": ELSEWHERE}
    )

    assert from_attacker.status_code == 429
    assert from_owner.status_code == 302


def test_without_trusted_proxies_a_forged_forwarded_header_changes_nothing(app, user):
    """By default X-Forwarded-For is anyone's to write, so it must not let a guesser rotate
    addresses."""
    client = app.test_client()
    answers = [
        login_from(
            client, OFFICE, user.email, WRONG, **{"X-Forwarded-For": f"192.0.2.{n}"}
        ).status_code
        for n in range(11)
    ]
    assert answers[-1] == 429


def _redis_url() -> str:
    url = os.environ.get("AUTHSERVER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError as error:
        if IN_CI:
            pytest.fail(f"Redis is required in CI but unreachable at {url}: {error}")
        pytest.skip(f"Redis unreachable at {url}")
    return url


@pytest.fixture
def redis_config() -> dict:
    url = _redis_url()
    prefix = "authserver-test-" + secrets.token_hex(6)
    yield {"RATELIMIT_STORAGE_URI": url, "RATELIMIT_KEY_PREFIX": prefix}
    connection = redis.Redis.from_url(url)
    for key in connection.scan_iter(f"*{prefix}*"):
        connection.delete(key)


def test_with_redis_the_counters_live_there(test_database, tmp_path, redis_config):
    """AUTHSERVER_RATELIMIT_STORAGE_URI=redis://… keeps the counters in Redis, shared by nodes."""
    from tests.conftest import _make_app

    node_a = _make_app(test_database, tmp_path / "a", **redis_config)
    node_b = _make_app(test_database, tmp_path / "b", **redis_config)
    try:
        with node_a.app_context():
            victim = factories.make_user()
        for n in range(10):
            node = node_a if n % 2 else node_b
            assert login_from(node.test_client(), OFFICE, victim.email, WRONG).status_code == 400
        assert login_from(node_b.test_client(), OFFICE, victim.email, WRONG).status_code == 429
        keys = list(
            redis.Redis.from_url(redis_config["RATELIMIT_STORAGE_URI"]).scan_iter(
                f"*{redis_config['RATELIMIT_KEY_PREFIX']}*"
            )
        )
        assert keys
        with node_a.app_context():
            from authserver.extensions import db
            from authserver.models import RateLimitCounter

            assert db.session.query(RateLimitCounter).count() == 0
    finally:
        _empty(node_a)
        _dispose(node_b)


def _empty(app: Flask) -> None:
    from authserver.extensions import db
    from authserver.models import Base

    with app.app_context():
        empty_tables(db.engine, Base.metadata)
        db.engine.dispose()


def _dispose(app: Flask) -> None:
    from authserver.extensions import db

    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def limiter_recovers_afterwards() -> Iterator[None]:
    """The limiter is one object for every app of the process (one app in production). Once it
    marked its storage dead it keeps counting in memory, for the next tests' apps too, until
    its back-off lets it look again; so the test that kills it revives it."""
    yield
    limiter._storage_dead = False  # Flask-Limiter has no public way to say "storage is back"


@pytest.mark.parametrize(
    "app_config",
    [{"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0"}],  # nothing listens there
)
@pytest.mark.usefixtures("limiter_recovers_afterwards")
def test_with_redis_unreachable_logins_work_and_guessing_is_still_counted_per_process(app, user):
    """The limiter falls back to per-process counters while its storage is down: never a 500
    for a person signing in, and a guesser still meets a limit."""
    client = app.test_client()
    answers = [login_from(client, OFFICE, user.email, WRONG).status_code for _ in range(11)]
    assert answers == [400] * 10 + [429]
    assert login_from(app.test_client(), ELSEWHERE, user.email, user.password).status_code == 302


# --- IPv6: one /64 is one address ---------------------------------------------------------------

HOME_NETWORK = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:DB8:1:2:0:0:0:9"]
NEIGHBOUR = "2001:db8:1:3::1"  # the next /64: another subscriber


def test_every_address_of_one_ipv6_64_shares_one_budget(app, user):
    """An IPv6 subscriber gets a whole /64 (RFC 6177): an address per guess would make the limit
    meaningless, so throttling keys IPv6 by its /64. The next /64 is someone else."""
    answers = [
        login_from(app.test_client(), HOME_NETWORK[n % 3], user.email, WRONG).status_code
        for n in range(10)
    ]
    assert answers == [400] * 10

    assert login_from(app.test_client(), "2001:db8:1:2::abcd", user.email, WRONG).status_code == 429
    assert login_from(app.test_client(), NEIGHBOUR, user.email, user.password).status_code == 302


def test_an_ipv4_mapped_ipv6_address_is_its_ipv4_address(app, user):
    """A dual-stack socket shows an IPv4 client as ::ffff:a.b.c.d: the same client, one count."""
    for n in range(10):
        address = OFFICE if n % 2 else f"::ffff:{OFFICE}"
        assert login_from(app.test_client(), address, user.email, WRONG).status_code == 400

    assert login_from(app.test_client(), OFFICE, user.email, user.password).status_code == 429
    assert login_from(app.test_client(), f"::ffff:{OFFICE}", user.email, WRONG).status_code == 429


def test_failures_over_all_accounts_count_per_ipv6_64_too(app):
    """Credential stuffing from one /64 meets the per-address limit however it rotates."""
    answers = [
        login_from(
            app.test_client(), f"2001:db8:1:2::{n:x}", f"nobody{n}@example.com", WRONG
        ).status_code
        for n in range(101)
    ]
    assert answers[:100] == [400] * 100
    assert answers[100] == 429
    assert login_from(app.test_client(), NEIGHBOUR, "nobody@example.com", WRONG).status_code == 400


@pytest.mark.parametrize("app_config", [{"SIGNUP_RATE_LIMIT": "2 per hour"}])
def test_signups_count_per_ipv6_64(app):
    def sign_up(address: str, n: int) -> int:
        client = app.test_client()
        environ = {"REMOTE_ADDR": address}
        page = client.get("/signup", environ_base=environ)
        return client.post(
            "/signup",
            data={
                "email": f"new{n}@example.com",
                "password": "a long enough password",
                "csrf_token": csrf_token(page.data),
            },
            environ_base=environ,
        ).status_code

    assert [sign_up(HOME_NETWORK[n], n) for n in range(3)] == [302, 302, 429]
    assert sign_up(NEIGHBOUR, 3) == 302


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
    ],
)
def test_the_throttling_key_of_an_address(address, key):
    assert throttling.address_key(address) == key


# --- simultaneous guesses: the limit holds whatever arrives at once -----------------------------


class HeldPasswordChecks:
    """Holds every password check the server starts until each request has either reached its
    check or been refused, so the requests overlap as much as any number of workers could make
    them: none finishes (and could be counted after the fact) before all have been let in."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, requests: int) -> None:
        self.requests = requests
        self.changed = threading.Condition()
        self.checking = 0
        self.refused = 0
        self.release = threading.Event()
        real = users.authenticate

        def held(email: str, password: str) -> object:
            with self.changed:
                self.checking += 1
                self.changed.notify_all()
            self.release.wait(timeout=10)
            return real(email, password)

        monkeypatch.setattr(users, "authenticate", held)

    def answered(self, status: int) -> int:
        if status == 429:
            with self.changed:
                self.refused += 1
                self.changed.notify_all()
        return status

    def release_when_all_arrived(self) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.checking + self.refused == self.requests, timeout=10)
        self.release.set()


def simultaneous_logins(
    workers: list[Flask], checks: HeldPasswordChecks, email: str, passwords: list[str]
) -> list[int]:
    """Each password from its own browser, all sent at once, spread over the workers."""
    barrier = threading.Barrier(len(passwords))

    def attempt(n: int) -> int:
        client = workers[n % len(workers)].test_client()
        environ = {"REMOTE_ADDR": OFFICE}
        token = csrf_token(client.get("/login", environ_base=environ).data)
        barrier.wait(timeout=10)
        response = client.post(
            "/login",
            data={"email": email, "password": passwords[n], "csrf_token": token},
            environ_base=environ,
        )
        return checks.answered(response.status_code)

    with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
        futures = [pool.submit(attempt, n) for n in range(len(passwords))]
        checks.release_when_all_arrived()
        return [future.result(timeout=30) for future in futures]


@pytest.mark.parametrize("app_config", [{"LOGIN_FAILURES_PER_ACCOUNT": "3 per 15 minutes"}])
@pytest.mark.parametrize("worker_count", [1, 2])
def test_simultaneous_wrong_passwords_get_no_more_checks_than_the_limit(
    app, app_config, user, monkeypatch, test_database, tmp_path, worker_count
):
    """Eight guesses at once, on one worker's threads or over two workers, with room for three:
    three passwords are checked, five are refused before their check. (Counting a failure after
    the check let all eight through: each had been let in before any was counted.)"""
    from tests.conftest import _make_app

    workers = [app] + [
        _make_app(test_database, tmp_path / f"worker{n}", **app_config)
        for n in range(1, worker_count)
    ]
    checks = HeldPasswordChecks(monkeypatch, requests=8)

    answers = simultaneous_logins(workers, checks, user.email, [WRONG] * 8)

    assert checks.checking == 3
    assert sorted(answers) == [400] * 3 + [429] * 5
    assert login_from(app.test_client(), OFFICE, user.email, user.password).status_code == 429
    for worker in workers[1:]:
        _dispose(worker)


def hold_the_right_password(monkeypatch: pytest.MonkeyPatch, password: str):
    """The check of ``password`` waits, once it has started, until the test lets it go."""
    in_check, release = threading.Event(), threading.Event()
    real = users.authenticate

    def held(email: str, given: str) -> object:
        if given == password:
            in_check.set()
            release.wait(timeout=10)
        return real(email, given)

    monkeypatch.setattr(users, "authenticate", held)
    return in_check, release


@pytest.mark.parametrize("app_config", [{"LOGIN_FAILURES_PER_ACCOUNT": "3 per 15 minutes"}])
def test_an_attempt_in_flight_holds_its_place_and_is_given_back_when_right(app, user, monkeypatch):
    """The third place is taken while the owner's password is being checked, so a guess sent
    meanwhile is refused; the owner's attempt was right and the guess never checked, so
    neither counts afterwards."""
    for _ in range(2):
        assert login_from(app.test_client(), OFFICE, user.email, WRONG).status_code == 400
    in_check, release = hold_the_right_password(monkeypatch, user.password)

    with ThreadPoolExecutor(max_workers=1) as pool:
        owner = pool.submit(login_from, app.test_client(), OFFICE, user.email, user.password)
        assert in_check.wait(timeout=10)
        assert login_from(app.test_client(), OFFICE, user.email, WRONG).status_code == 429
        release.set()
        assert owner.result(timeout=10).status_code == 302

    assert login_from(app.test_client(), OFFICE, user.email, WRONG).status_code == 400
    assert login_from(app.test_client(), OFFICE, user.email, WRONG).status_code == 429


@pytest.mark.parametrize("app_config", [{"LOGIN_FAILURES_PER_ACCOUNT": "2 per 15 minutes"}])
def test_successful_logins_are_given_back(app, user):
    """Counted before the check like every attempt, a right password is given back after it."""
    for _ in range(5):
        assert login_from(app.test_client(), OFFICE, user.email, user.password).status_code == 302

    answers = [
        login_from(app.test_client(), OFFICE, user.email, WRONG).status_code for _ in range(3)
    ]

    assert answers == [400, 400, 429]


@pytest.mark.parametrize(
    "app_config",
    [
        {"LOGIN_FAILURES_PER_ACCOUNT": "3 per 15 minutes"},
        # Per process, but its counters open a window for a count given back, as Redis's do.
        {"LOGIN_FAILURES_PER_ACCOUNT": "3 per 15 minutes", "RATELIMIT_STORAGE_URI": "memory://"},
    ],
    ids=["database", "memory"],
)
def test_an_attempt_answered_after_its_window_ended_gives_nothing_back_to_the_next(
    app, user, monkeypatch
):
    """A refund belongs to the window the attempt was counted in. Given to the next window
    instead, every attempt straddling a window's end would buy one more guess there."""
    in_check, release = hold_the_right_password(monkeypatch, user.password)
    with ThreadPoolExecutor(max_workers=1) as pool:
        owner = pool.submit(login_from, app.test_client(), OFFICE, user.email, user.password)
        assert in_check.wait(timeout=10)
        later = ratelimit.time.time() + 15 * 60 + 1
        monkeypatch.setattr(ratelimit.time, "time", lambda: later)
        release.set()
        assert owner.result(timeout=10).status_code == 302

    answers = [
        login_from(app.test_client(), OFFICE, user.email, WRONG).status_code for _ in range(4)
    ]

    assert answers == [400, 400, 400, 429]


def test_a_count_given_back_lowers_only_an_open_window(app, monkeypatch):
    """The database storage's negative increment: down to zero at most, and never a window of
    its own (a refund after the window ended would otherwise be credit in the next)."""
    storage = ratelimit.DatabaseStorage()
    with app.app_context():
        assert storage.incr("LIMITER/attempt:k", 60, -1) == 0
        assert storage.get("LIMITER/attempt:k") == 0
        assert storage.incr("LIMITER/attempt:k", 60) == 1
        assert storage.incr("LIMITER/attempt:k", 60, -2) == 0
        assert storage.incr("LIMITER/attempt:k", 60, 3) == 3

        later = ratelimit.time.time() + 61
        monkeypatch.setattr(ratelimit.time, "time", lambda: later)
        assert storage.incr("LIMITER/attempt:k", 60, -1) == 0
        assert storage.incr("LIMITER/attempt:k", 60) == 1
