"""Configuration: one class of documented defaults, then ``AUTHSERVER_*`` environment variables.

Every setting can be overridden with an environment variable of the same name prefixed with
``AUTHSERVER_`` (``AUTHSERVER_ACCESS_TOKEN_TTL=300``); values are parsed as JSON when they can be.
"""

from __future__ import annotations

import ipaddress
import math
import os
import secrets
from pathlib import Path
from typing import SupportsFloat, cast
from urllib.parse import urlsplit

from flask import Flask

from .clock import wall_clock


class DefaultConfig:
    #: "Now" for every rule and timestamp: an aware UTC datetime. Tests pass a controllable one;
    #: it cannot be set from the environment.
    CLOCK = staticmethod(wall_clock)
    #: SQLAlchemy URL, e.g. ``postgresql+psycopg://host/db``; None means a SQLite file,
    #: ``authserver.sqlite3``, in the instance folder (SPEC: embedded default).
    DATABASE_URL: str | None = None
    #: The ``iss`` of every token and of the metadata (RFC 8414 §2, OIDC Discovery §3);
    #: ``https`` unless it is a loopback address.
    ISSUER = "http://127.0.0.1:5000"
    #: Flask session key; None means one is generated once and kept in the instance folder,
    #: which only a loopback issuer allows (nodes behind a load balancer must share one key).
    SECRET_KEY: str | None = None
    #: The key-encryption key: signing keys' private keys are stored encrypted under it, so a
    #: copy of the database cannot sign. 32+ random characters, kept outside the database and
    #: the same on every node; None means it is derived from SECRET_KEY (which already is).
    KEY_ENCRYPTION_KEY: str | None = None
    #: Earlier key-encryption keys, space-separated: keys stored under them are still read
    #: (never written) until `authserver keys rewrap` moves them to the current one.
    KEY_ENCRYPTION_KEY_PREVIOUS: str | None = None
    #: Access token lifetime in seconds; short because JWTs cannot be recalled (RFC 9700 §2.2.2).
    ACCESS_TOKEN_TTL = 600
    #: Refresh token lifetime in seconds (30 days); each use rotates it (RFC 9700 §4.14.2).
    REFRESH_TOKEN_TTL = 2_592_000
    #: Authorization code lifetime in seconds; RFC 6749 §4.1.2 recommends at most 10 minutes.
    CODE_TTL = 60
    #: ID token lifetime in seconds (OIDC Core §2 leaves it to the server).
    ID_TOKEN_TTL = 600
    #: The ``aud`` of access tokens: the resource API's identifier (RFC 9068 §3).
    DEFAULT_AUDIENCE = "http://127.0.0.1:5001"
    #: bcrypt work factor for people's passwords (~300 ms a check at 12 on our machines).
    BCRYPT_ROUNDS = 12
    #: Shortest password accepted at signup (NIST SP 800-63B §5.1.1.2 asks for at least 8).
    PASSWORD_MIN_LENGTH = 10
    #: RFC 7591 dynamic client registration; off unless the operator turns it on.
    REGISTRATION_ENABLED = False
    #: If set, POST /oauth/register requires this initial access token, sent as a Bearer token
    #: (RFC 7591 §3).
    REGISTRATION_INITIAL_ACCESS_TOKEN: str | None = None
    #: Fetch a client's ``jwks_uri`` (and metadata documents) over plain ``http`` from loopback
    #: addresses too; for development and tests only, never in production (SSRF guard).
    OUTBOUND_ALLOW_LOOPBACK = False
    #: Every client must send its authorization requests through PAR (RFC 9126 §5); clients
    #: can also be registered to require it one by one.
    REQUIRE_PUSHED_AUTHORIZATION_REQUESTS = False
    #: Refresh-token family lifetime in seconds (90 days), however often it is refreshed, so
    #: access granted once does not live forever by refreshing (RFC 9700 §4.14.2).
    REFRESH_TOKEN_MAX_LIFETIME = 7_776_000
    #: Seconds in which the same refresh token sent again (a client that lost the answer on a
    #: flaky network) gets the same successor back instead of ending the grant (SPEC).
    REFRESH_RETRY_WINDOW = 10
    #: Days audit events are kept before `authserver cleanup` deletes them.
    AUDIT_RETENTION_DAYS = 90
    #: Seconds between cleanups run inside the server (each worker process, with jitter);
    #: None means none: run `authserver cleanup` yourself, e.g. hourly from cron (SPEC).
    CLEANUP_INTERVAL: float | None = None
    #: Seconds each process may answer from its cached signing keys and clients before reading
    #: their version stamps again (``services/caches.py``): a key rotation, a client disabled or
    #: edited on another node or by the command line shows on every worker within this bound.
    #: 0: read at every request, as exact as it gets (one small query each). At most 60.
    CACHE_CHECK_INTERVAL = 1.0
    #: Where throttling counters live: "database://" (this server's own database, shared by every
    #: worker and node) or "redis://host:6379" for Redis. "memory://" is per process: tests only.
    RATELIMIT_STORAGE_URI = "database://"
    #: Throttling on. Set here, not left to Flask-Limiter: its ``init_app`` keeps the previous
    #: app's value as the default, so one app made with it off would turn it off for the next.
    RATELIMIT_ENABLED = True
    #: If that storage cannot be reached (Redis down), count in each process's memory until it is
    #: back rather than refuse every login with a 500: throttling degrades to per-process, people
    #: can still sign in, and Flask-Limiter logs the switch and the recovery.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    #: Seconds a process may count the machine endpoints' throttling keys in memory before
    #: syncing them with the shared storage (database:// only; see ratelimit._Batches). Each
    #: counted request on the token endpoint would otherwise cost a transaction per limit; the
    #: price is that a limit may be overshot by about this long's worth of the sender's traffic
    #: on other processes. 0: every count is written and read at once.
    RATELIMIT_SYNC_INTERVAL = 1.0
    #: Failed logins allowed for one account from one address before that pair is refused until
    #: the window ends (OWASP authentication cheat sheet: throttle guessing, not people).
    LOGIN_FAILURES_PER_ACCOUNT = "10 per 15 minutes"
    #: Failed logins allowed from one address over all accounts (credential stuffing); generous,
    #: since an office or a campus shares one address.
    LOGIN_FAILURES_PER_ADDRESS = "100 per hour"
    #: Sign-ups from one address; accounts cost bcrypt time and storage.
    SIGNUP_RATE_LIMIT = "30 per hour"
    #: Token, introspection and revocation requests one client may make to each of them
    #: (authenticated requests only, so nobody else can spend it). Far above what a well-behaved
    #: client needs: a service caches its 10-minute token, so even 1,000 instances ask for ~2 a
    #: second; a mobile app's whole install base refreshes through its one client_id, and 20,000
    #: a minute is one refresh every 10 minutes for 200,000 people using it at the same moment.
    #: It is there so that one runaway client (a token per API call, a retry loop) cannot take a
    #: node (a few hundred tokens a second) from every other client. Raise it for bigger apps.
    MACHINE_RATE_LIMIT_PER_CLIENT = "20000 per minute"
    #: Failed client authentications for one client_id from one address (all three endpoints),
    #: after which that pair waits out the minute: stops secret guessing and a misconfigured
    #: deployment hammering us, while the real client's servers elsewhere carry on.
    MACHINE_AUTH_FAILURES_PER_CLIENT = "30 per minute"
    #: Failed client authentications from one address over all client_ids (spraying ids).
    #: Generous: successful requests never count, and it takes ten clients behind one NAT all
    #: failing at their own limit to reach it.
    MACHINE_AUTH_FAILURES_PER_ADDRESS = "300 per minute"
    #: RFC 7591 registrations from one address (when registration is on): each makes a client
    #: that lives until deleted; a CI pipeline registering per test run stays far below it.
    REGISTRATION_RATE_LIMIT = "100 per hour"
    #: Seconds the previous client secret keeps working after a rotation (in the console or by
    #: `clients rotate-secret`), so a developer can deploy the new one before the old one stops;
    #: 0 ends it at once.
    CLIENT_SECRET_GRACE = 86_400
    #: Proxies in front whose X-Forwarded-For/-Proto/-Host (Werkzeug's ProxyFix) and
    #: X-Request-ID are trusted; 0 means the socket's peer is the client. Set it to the number
    #: of proxies, never more.
    TRUSTED_PROXIES = 0
    #: Logs on stdout: "json" (one JSON object a line) or "text" (for a person at a terminal).
    LOG_FORMAT = "json"
    #: ``host:port`` serving Prometheus metrics (SPEC); None: off, and no per-request cost. Never
    #: the public port, and keep it private: metrics name clients and show traffic.
    METRICS_ADDRESS: str | None = None
    #: A login session ends after this many seconds without a request (OWASP session management).
    SESSION_IDLE_TIMEOUT = 28_800
    #: ...and after this many seconds in any case, however active (OWASP: absolute timeout).
    SESSION_MAX_LIFETIME = 1_209_600
    #: The session cookie's name: cookies ignore ports, so Flask's default "session" would clash
    #: with any other Flask app on another port of the same host (SPEC).
    SESSION_COOKIE_NAME = "authserver_session"
    #: Largest request body accepted (forms and JSON are small; this bounds abuse).
    MAX_CONTENT_LENGTH = 64 * 1024
    #: Session cookies: not readable from scripts, not sent on cross-site subrequests (OWASP
    #: session management); Secure follows the issuer's scheme unless set explicitly.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"


def load_config(app: Flask, test_config: dict | None) -> None:
    """Defaults, then ``AUTHSERVER_*`` from the environment, then ``test_config``."""
    app.config.from_object(DefaultConfig)
    app.config.from_prefixed_env("AUTHSERVER")
    if test_config:
        app.config.update(test_config)

    if not callable(app.config["CLOCK"]):
        raise RuntimeError("CLOCK must be a function returning an aware UTC datetime.")
    app.config["CLEANUP_INTERVAL"] = cleanup_interval(app.config.get("CLEANUP_INTERVAL"))
    app.config["CACHE_CHECK_INTERVAL"] = cache_check_interval(app.config["CACHE_CHECK_INTERVAL"])
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = "sqlite:///" + str(
            Path(app.instance_path) / "authserver.sqlite3"
        )
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    app.config["ISSUER"] = app.config["ISSUER"].rstrip("/")

    issuer_is_loopback = is_loopback_url(app.config["ISSUER"])
    if not issuer_is_loopback and urlsplit(app.config["ISSUER"]).scheme != "https":
        raise RuntimeError(
            f"AUTHSERVER_ISSUER must use https unless it is a loopback address: "
            f"{app.config['ISSUER']!r}"
        )
    if not app.config["SECRET_KEY"]:
        if not issuer_is_loopback:
            # Several machines behind a load balancer must share one key; a generated one
            # would silently log people out whenever the balancer switches machines.
            raise RuntimeError("AUTHSERVER_SECRET_KEY must be set when the issuer is public.")
        app.config["SECRET_KEY"] = _instance_secret_key(Path(app.instance_path))
    check_key_encryption_keys(app.config)

    # https-only cookies whenever the issuer is https, unless the operator said otherwise.
    secure = urlsplit(app.config["ISSUER"]).scheme == "https"
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if name not in (test_config or {}) and f"AUTHSERVER_{name}" not in os.environ:
            app.config[name] = secure
    options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS")
    if options is None:
        options = engine_options(app.config["DATABASE_URL"])
    # Options given whole (tests, AUTHSERVER_SQLALCHEMY_ENGINE_OPTIONS) hide parameters too,
    # unless they say otherwise.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"hide_parameters": True, **options}
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # tied to the session instead


def cleanup_interval(value: object) -> float | None:
    """``CLEANUP_INTERVAL`` as seconds, or None when unset; anything else stops the start."""
    if value is None or value == "":
        return None
    number = None
    if not isinstance(value, bool):
        try:
            # A number, or a string of one; float() refuses anything else with a TypeError.
            number = float(cast(SupportsFloat, value))
        except (TypeError, ValueError):
            number = None
    if number is None or not math.isfinite(number) or number <= 0:
        raise RuntimeError(
            f"AUTHSERVER_CLEANUP_INTERVAL must be a positive number of seconds (or unset), "
            f"not {value!r}."
        )
    return number


#: Shortest key-encryption key accepted: what `authserver check` asks of the session key.
KEY_ENCRYPTION_KEY_MIN_LENGTH = 32


def check_key_encryption_keys(config: dict) -> None:
    """``KEY_ENCRYPTION_KEY`` as a string (None when unset), ``..._PREVIOUS`` as a tuple of
    strings, or the app does not start: a typo here would otherwise surface only as a token
    endpoint that cannot sign. The messages never repeat the values: they are secrets."""
    current = config.get("KEY_ENCRYPTION_KEY")
    if current in (None, ""):
        config["KEY_ENCRYPTION_KEY"] = None
    elif not isinstance(current, str) or len(current) < KEY_ENCRYPTION_KEY_MIN_LENGTH:
        raise RuntimeError(
            f"AUTHSERVER_KEY_ENCRYPTION_KEY must be a string of at least "
            f"{KEY_ENCRYPTION_KEY_MIN_LENGTH} random characters (or unset, to derive it from "
            "AUTHSERVER_SECRET_KEY)."
        )
    previous = config.get("KEY_ENCRYPTION_KEY_PREVIOUS")
    if isinstance(previous, str):
        previous = previous.split()
    elif previous is None:
        previous = []
    if not isinstance(previous, list | tuple) or not all(
        isinstance(p, str) and p.strip() for p in previous
    ):
        raise RuntimeError(
            "AUTHSERVER_KEY_ENCRYPTION_KEY_PREVIOUS must be the earlier key-encryption keys "
            "separated by spaces (or unset)."
        )
    config["KEY_ENCRYPTION_KEY_PREVIOUS"] = tuple(previous)


#: The longest ``CACHE_CHECK_INTERVAL`` accepted: it is how long a disabled client may still get
#: tokens from another worker, so a typo (milliseconds for seconds) must not stretch it.
MAX_CACHE_CHECK_INTERVAL = 60.0


def cache_check_interval(value: object) -> float:
    """``CACHE_CHECK_INTERVAL`` as seconds, 0 to 60; anything else stops the start."""
    number = None
    if not isinstance(value, bool):
        try:
            number = float(cast(str, value))  # a number, or a string of one: float() decides
        except (TypeError, ValueError):
            number = None
    if number is None or not 0 <= number <= MAX_CACHE_CHECK_INTERVAL:  # NaN fails both
        raise RuntimeError(
            f"AUTHSERVER_CACHE_CHECK_INTERVAL must be a number of seconds from 0 to "
            f"{MAX_CACHE_CHECK_INTERVAL:g}, not {value!r}."
        )
    return number


def engine_options(url: str) -> dict:
    """Connection handling per database (SQLAlchemy ``create_engine`` options)."""
    # A failed statement's error (and so its log line) shows the SQL but never its parameters:
    # they are bcrypt hashes, addresses and token digests.
    hidden = {"hide_parameters": True}
    if not url.startswith("postgresql"):
        # A file on this machine: there is no connection to lose, so no ping before each use.
        return hidden
    return {
        **hidden,
        # A dropped connection is noticed at checkout, not by the request that uses it.
        "pool_pre_ping": True,
        # Per worker process: a sync worker needs one connection, the rest absorb bursts of
        # threads (CLI, cleanup) without queueing; recycled before servers drop idle ones.
        "pool_size": 5,
        "max_overflow": 5,
        "pool_recycle": 1800,
        "pool_use_lifo": True,
        # psycopg 3 prepares a statement on the server after it ran this many times on a
        # connection, so the token path's few statements are parsed and planned once.
        "connect_args": {"prepare_threshold": 2},
    }


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _instance_secret_key(instance: Path) -> str:
    path = instance / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()
