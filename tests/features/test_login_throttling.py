"""Login throttling counts guessing, not people: failed attempts, per account and per address,
in storage every worker and node shares."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from authserver import ratelimit, throttling
from authserver.extensions import limiter
from tests import factories
from tests.databases import IN_CI
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
        with db.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
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
