"""Configuration: one class of documented defaults, then ``AUTHSERVER_*`` environment variables.

Every setting can be overridden with an environment variable of the same name prefixed with
``AUTHSERVER_`` (``AUTHSERVER_ACCESS_TOKEN_TTL=300``); values are parsed as JSON when they can be.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from flask import Flask

from configrules import (
    Check,
    DatabaseUrl,
    Flag,
    Function,
    HostPort,
    Number,
    OneOf,
    Optional,
    RateLimit,
    SettingError,
    Text,
    Url,
    Whole,
    validate,
)

from .clock import wall_clock

__all__ = ["DefaultConfig", "SettingError", "load_config"]

#: The environment variables' prefix.
PREFIX = "AUTHSERVER_"

#: Shortest key-encryption key accepted: what `authserver check` asks of the session key.
KEY_ENCRYPTION_KEY_MIN_LENGTH = 32
#: The longest ``CACHE_CHECK_INTERVAL`` accepted: it is how long a disabled client may still get
#: tokens from another worker, so a typo (milliseconds for seconds) must not stretch it.
MAX_CACHE_CHECK_INTERVAL = 60.0
#: Throttling storages: ours (``ratelimit.py``), Redis in its forms, and memory (tests only).
STORAGE_SCHEMES = ("database", "redis", "rediss", "redis+sentinel", "redis+cluster", "memory")
#: SameSite values browsers know; `authserver check` fails "None" (sent on cross-site requests).
SAME_SITE = ("Lax", "Strict", "None")


def _previous_keys(value: object) -> tuple[str, ...]:
    keys = value.split() if isinstance(value, str) else value
    if not isinstance(keys, list | tuple) or not all(
        isinstance(k, str) and k.strip() for k in keys
    ):
        raise ValueError
    return tuple(keys)


PREVIOUS_KEYS = Check(
    "the earlier key-encryption keys separated by spaces", _previous_keys, secret=True
)


def _smtp_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError
    parts = urlsplit(value)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError
    parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    return value


#: The mail server's URL may carry credentials: a message about it never repeats it.
SMTP_URL_RULE = Check("an smtp:// or smtps:// URL with a host", _smtp_url, secret=True)


class DefaultConfig:
    #: "Now" for every rule and timestamp: an aware UTC datetime. Tests pass a controllable one;
    #: it cannot be set from the environment.
    CLOCK: Annotated[object, Function()] = staticmethod(wall_clock)
    #: SQLAlchemy URL, e.g. ``postgresql+psycopg://host/db``; None means a SQLite file,
    #: ``authserver.sqlite3``, in the instance folder (SPEC: embedded default).
    DATABASE_URL: Annotated[str | None, Optional(DatabaseUrl())] = None
    #: The ``iss`` of every token and of the metadata (RFC 8414 §2, OIDC Discovery §3);
    #: ``https`` unless it is a loopback address.
    ISSUER: Annotated[str, Url()] = "http://127.0.0.1:5000"
    #: Flask session key; None means one is generated once and kept in the instance folder,
    #: which only a loopback issuer allows (nodes behind a load balancer must share one key).
    SECRET_KEY: Annotated[str | None, Optional(Text(min_length=16, secret=True))] = None
    #: The key-encryption key: signing keys' private keys are stored encrypted under it, so a
    #: copy of the database cannot sign. 32+ random characters, kept outside the database and
    #: the same on every node; None means it is derived from SECRET_KEY (which already is).
    KEY_ENCRYPTION_KEY: Annotated[
        str | None, Optional(Text(min_length=KEY_ENCRYPTION_KEY_MIN_LENGTH, secret=True))
    ] = None
    #: Earlier key-encryption keys, space-separated: keys stored under them are still read
    #: (never written) until `authserver keys rewrap` moves them to the current one.
    KEY_ENCRYPTION_KEY_PREVIOUS: Annotated[str | None, Optional(PREVIOUS_KEYS)] = None
    #: Access token lifetime in seconds; short because JWTs cannot be recalled (RFC 9700 §2.2.2).
    ACCESS_TOKEN_TTL: Annotated[int, Whole(1, 86_400, "seconds")] = 600
    #: Refresh token lifetime in seconds (30 days); each use rotates it (RFC 9700 §4.14.2).
    REFRESH_TOKEN_TTL: Annotated[int, Whole(1, 31_536_000, "seconds")] = 2_592_000
    #: Authorization code lifetime in seconds; RFC 6749 §4.1.2 recommends at most 10 minutes.
    CODE_TTL: Annotated[int, Whole(1, 3600, "seconds")] = 60
    #: ID token lifetime in seconds (OIDC Core §2 leaves it to the server).
    ID_TOKEN_TTL: Annotated[int, Whole(1, 86_400, "seconds")] = 600
    #: The ``aud`` of access tokens: the resource API's identifier (RFC 9068 §3).
    DEFAULT_AUDIENCE: Annotated[str, Text()] = "http://127.0.0.1:5001"
    #: Space-separated resource identifiers (RFC 8707) tokens may also be issued for, besides
    #: DEFAULT_AUDIENCE; a ``resource`` naming anything else (or a resource registered to a
    #: client with ``clients create --resource``) is ``invalid_target``.
    RESOURCES: Annotated[str | None, Optional(Text())] = None
    #: bcrypt work factor for people's passwords (~300 ms a check at 12 on our machines).
    BCRYPT_ROUNDS: Annotated[int, Whole(4, 31)] = 12
    #: Shortest password accepted at signup (NIST SP 800-63B §5.1.1.2 asks for at least 8).
    PASSWORD_MIN_LENGTH: Annotated[int, Whole(8, 128, "characters")] = 10
    #: RFC 7591 dynamic client registration; off unless the operator turns it on.
    REGISTRATION_ENABLED: Annotated[bool, Flag()] = False
    #: If set, POST /oauth/register requires this initial access token, sent as a Bearer token
    #: (RFC 7591 §3).
    REGISTRATION_INITIAL_ACCESS_TOKEN: Annotated[str | None, Optional(Text(secret=True))] = None
    #: Fetch a client's ``jwks_uri``, and POST back-channel logout tokens, over plain ``http``
    #: to loopback addresses too (metadata documents have ``CIMD_ALLOW_LOOPBACK``); for
    #: development and tests only, never in production (SSRF guard). `authserver serve
    #: --demo-client` on loopback sets it.
    OUTBOUND_ALLOW_LOOPBACK: Annotated[bool, Flag()] = False
    #: Accept an ``https`` URL as ``client_id``: an OAuth Client ID Metadata Document, fetched
    #: from that URL (SSRF guards), checked, cached per its HTTP headers; such a client is public.
    CIMD_ENABLED: Annotated[bool, Flag()] = True
    #: Also accept ``http://127.0.0.1…``/``localhost`` metadata document URLs, and fetch them
    #: from loopback addresses; for development and tests only, never in production.
    CIMD_ALLOW_LOOPBACK: Annotated[bool, Flag()] = False
    #: Metadata document fetches per host per minute, over every worker and node: a page of
    #: made-up URLs on one host must not turn this server into that host's load generator.
    CIMD_FETCHES_PER_HOST_PER_MINUTE: Annotated[int, Whole(1, 10_000, "fetches")] = 30
    #: Every client must send its authorization requests through PAR (RFC 9126 §5); clients
    #: can also be registered to require it one by one.
    REQUIRE_PUSHED_AUTHORIZATION_REQUESTS: Annotated[bool, Flag()] = False
    #: Every DPoP proof (RFC 9449) must carry a nonce this server gave out: a proof made ahead
    #: of time stops working within a minute. Clients learn the nonce from a `use_dpop_nonce`
    #: answer's `DPoP-Nonce` header and retry. The nonces need no storage (an HMAC of the time
    #: window under SECRET_KEY), so every node accepts every other's.
    DPOP_NONCE_REQUIRED: Annotated[bool, Flag()] = False
    #: Refresh-token family lifetime in seconds (90 days), however often it is refreshed, so
    #: access granted once does not live forever by refreshing (RFC 9700 §4.14.2).
    REFRESH_TOKEN_MAX_LIFETIME: Annotated[int, Whole(1, 315_360_000, "seconds")] = 7_776_000
    #: Seconds in which the same refresh token sent again (a client that lost the answer on a
    #: flaky network) gets the same successor back instead of ending the grant (SPEC).
    REFRESH_RETRY_WINDOW: Annotated[int, Whole(0, 300, "seconds")] = 10
    #: Days audit events are kept before `authserver cleanup` deletes them. 0 is refused at start
    #: (it once meant "delete the whole record"): to keep events for good, say 36500.
    AUDIT_RETENTION_DAYS: Annotated[int, Whole(1, 36_500, "days")] = 90
    #: Seconds between cleanups run inside the server (each worker process, with jitter);
    #: None means none: run `authserver cleanup` yourself, e.g. hourly from cron (SPEC).
    CLEANUP_INTERVAL: Annotated[
        float | None, Optional(Number(0, 86_400, "seconds", above=True))
    ] = None
    #: Seconds each process may answer from its cached signing keys and clients before reading
    #: their version stamps again (``services/caches.py``): a key rotation, a client disabled or
    #: edited on another node or by the command line shows on every worker within this bound.
    #: 0: read at every request, as exact as it gets (one small query each). At most 60.
    CACHE_CHECK_INTERVAL: Annotated[float, Number(0, MAX_CACHE_CHECK_INTERVAL, "seconds")] = 1.0
    #: Where throttling counters live: "database://" (this server's own database, shared by every
    #: worker and node) or "redis://host:6379" for Redis. "memory://" is per process: tests only.
    RATELIMIT_STORAGE_URI: Annotated[str, Url(STORAGE_SCHEMES)] = "database://"
    #: Throttling on. Set here, not left to Flask-Limiter: its ``init_app`` keeps the previous
    #: app's value as the default, so one app made with it off would turn it off for the next.
    RATELIMIT_ENABLED: Annotated[bool, Flag()] = True
    #: If that storage cannot be reached (Redis down), count in each process's memory until it is
    #: back rather than refuse every login with a 500: throttling degrades to per-process, people
    #: can still sign in, and Flask-Limiter logs the switch and the recovery.
    RATELIMIT_SWALLOW_ERRORS: Annotated[bool, Flag()] = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED: Annotated[bool, Flag()] = True
    #: Seconds a process may count the machine endpoints' throttling keys in memory before
    #: syncing them with the shared storage (database:// only; see ratelimit._Batches). Each
    #: counted request on the token endpoint would otherwise cost a transaction per limit; the
    #: price is that a limit may be overshot by about this long's worth of the sender's traffic
    #: on other processes. 0: every count is written and read at once.
    RATELIMIT_SYNC_INTERVAL: Annotated[float, Number(0, 60, "seconds")] = 1.0
    #: Failed logins allowed for one account from one address before that pair is refused until
    #: the window ends (OWASP authentication cheat sheet: throttle guessing, not people).
    LOGIN_FAILURES_PER_ACCOUNT: Annotated[str, RateLimit()] = "10 per 15 minutes"
    #: Failed logins allowed from one address over all accounts (credential stuffing); generous,
    #: since an office or a campus shares one address.
    LOGIN_FAILURES_PER_ADDRESS: Annotated[str, RateLimit()] = "100 per hour"
    #: Wrong user codes one signed-in person may type on /device from one address (RFC 8628
    #: §5.1: a user code has about 34 bits, so a few guesses an hour cannot find a live one).
    DEVICE_CODE_FAILURES_PER_PERSON: Annotated[str, RateLimit()] = "10 per 15 minutes"
    #: Wrong user codes from one address over all people (an office or campus shares one).
    DEVICE_CODE_FAILURES_PER_ADDRESS: Annotated[str, RateLimit()] = "60 per hour"
    #: Wrong second-factor codes (authenticator or recovery code) allowed for one account, from
    #: any address, before its code form refuses until the window ends. Per account because
    #: whoever is guessing already has the password; three time steps' codes count at once, so
    #: 5 guesses an hour leave about one chance in 400 per week of guessing, and each wrong code
    #: is in the person's recent activity.
    SECOND_FACTOR_FAILURES_PER_ACCOUNT: Annotated[str, RateLimit()] = "5 per hour"
    #: Sign-ups from one address; accounts cost bcrypt time and storage.
    SIGNUP_RATE_LIMIT: Annotated[str, RateLimit()] = "30 per hour"
    #: "Forgot password" requests from one address (any accounts): each may send a mail.
    PASSWORD_RESET_PER_ADDRESS: Annotated[str, RateLimit()] = "30 per hour"  # noqa: S105 - a limit, not a password
    #: "Forgot password" requests for one account (from anywhere): bounds the mail one
    #: stranger can make a person receive; a reset link lives 30 minutes anyway.
    PASSWORD_RESET_PER_ACCOUNT: Annotated[str, RateLimit()] = "5 per hour"  # noqa: S105 - a limit, not a password
    #: Wrong current passwords on /account/security (change password or address, delete the
    #: account, remove a second factor or a passkey, new recovery codes), per account over all
    #: those forms together: a stolen session must not become a password-guessing oracle.
    ACCOUNT_PASSWORD_FAILURES: Annotated[str, RateLimit()] = "10 per 15 minutes"  # noqa: S105 - a limit, not a password
    #: Where mail goes (SPEC): ``smtp://[user:pass@]host:port`` (STARTTLS when the server offers
    #: it) or ``smtps://[user:pass@]host:port`` (TLS from the start). The credentials are never
    #: logged. The default is the local mail catcher that `make serve` starts.
    SMTP_URL: Annotated[str, SMTP_URL_RULE] = "smtp://127.0.0.1:1025"
    #: The sender of every mail (SPEC).
    MAIL_FROM: Annotated[str, Text()] = "Authserver <no-reply@localhost>"
    #: Seconds between looks at the outbox (mail queued in the database) in each worker, which
    #: sends what is due there; several workers and nodes take turns (rows are claimed). None:
    #: nothing is sent from this server's processes (run `authserver outbox send` instead).
    OUTBOX_INTERVAL: Annotated[float | None, Optional(Number(0, 3600, "seconds", above=True))] = 2.0
    #: Seconds before a failed delivery is tried again, doubled at each failure (with jitter)
    #: up to OUTBOX_MAX_BACKOFF.
    OUTBOX_FIRST_BACKOFF: Annotated[int, Whole(1, 86_400, "seconds")] = 30
    #: The longest wait between two tries of one message (seconds).
    OUTBOX_MAX_BACKOFF: Annotated[int, Whole(1, 604_800, "seconds")] = 3600
    #: A message not delivered this many seconds after it was queued is given up (and counted
    #: as such in `authserver check` and the metrics): a link in it has expired by then anyway.
    OUTBOX_GIVE_UP_AFTER: Annotated[int, Whole(60, 2_592_000, "seconds")] = 172_800
    #: Seconds a back-channel logout token is good for (its ``exp``, counted from the logout):
    #: its delivery is retried with the outbox's backoff until then, then given up.
    BACKCHANNEL_LOGOUT_TOKEN_LIFETIME: Annotated[int, Whole(30, 3600, "seconds")] = 300
    #: Seconds an SMTP conversation may take before it counts as failed.
    SMTP_TIMEOUT: Annotated[int, Whole(1, 300, "seconds")] = 10
    #: Token, introspection and revocation requests one client may make to each of them
    #: (authenticated requests only, so nobody else can spend it). Far above what a well-behaved
    #: client needs: a service caches its 10-minute token, so even 1,000 instances ask for ~2 a
    #: second; a mobile app's whole install base refreshes through its one client_id, and 20,000
    #: a minute is one refresh every 10 minutes for 200,000 people using it at the same moment.
    #: It is there so that one runaway client (a token per API call, a retry loop) cannot take a
    #: node (a few hundred tokens a second) from every other client. Raise it for bigger apps.
    MACHINE_RATE_LIMIT_PER_CLIENT: Annotated[str, RateLimit()] = "20000 per minute"
    #: Failed client authentications for one client_id from one address (all three endpoints),
    #: after which that pair waits out the minute: stops secret guessing and a misconfigured
    #: deployment hammering us, while the real client's servers elsewhere carry on.
    MACHINE_AUTH_FAILURES_PER_CLIENT: Annotated[str, RateLimit()] = "30 per minute"
    #: Failed client authentications from one address over all client_ids (spraying ids).
    #: Generous: successful requests never count, and it takes ten clients behind one NAT all
    #: failing at their own limit to reach it.
    MACHINE_AUTH_FAILURES_PER_ADDRESS: Annotated[str, RateLimit()] = "300 per minute"
    #: RFC 7591 registrations from one address (when registration is on): each makes a client
    #: that lives until deleted; a CI pipeline registering per test run stays far below it.
    REGISTRATION_RATE_LIMIT: Annotated[str, RateLimit()] = "100 per hour"
    #: Seconds the previous client secret keeps working after a rotation (in the console or by
    #: `clients rotate-secret`), so a developer can deploy the new one before the old one stops;
    #: 0 ends it at once.
    CLIENT_SECRET_GRACE: Annotated[int, Whole(0, 2_592_000, "seconds")] = 86_400
    #: Proxies in front whose X-Forwarded-For/-Proto/-Host (Werkzeug's ProxyFix) and
    #: X-Request-ID are trusted; 0 means the socket's peer is the client. Set it to the number
    #: of proxies, never more.
    TRUSTED_PROXIES: Annotated[int, Whole(0, 10)] = 0
    #: Logs on stdout: "json" (one JSON object a line) or "text" (for a person at a terminal).
    LOG_FORMAT: Annotated[str, OneOf(("json", "text"))] = "json"
    #: ``host:port`` serving Prometheus metrics (SPEC); None: off, and no per-request cost. Never
    #: the public port, and keep it private: metrics name clients and show traffic.
    METRICS_ADDRESS: Annotated[str | None, Optional(HostPort())] = None
    #: A login session ends after this many seconds without a request (OWASP session management).
    SESSION_IDLE_TIMEOUT: Annotated[int, Whole(60, 31_536_000, "seconds")] = 28_800
    #: ...and after this many seconds in any case, however active (OWASP: absolute timeout).
    SESSION_MAX_LIFETIME: Annotated[int, Whole(60, 31_536_000, "seconds")] = 1_209_600
    #: The session cookie's name: cookies ignore ports, so Flask's default "session" would clash
    #: with any other Flask app on another port of the same host (SPEC).
    SESSION_COOKIE_NAME: Annotated[str, Text()] = "authserver_session"
    #: Largest request body accepted (forms and JSON are small; this bounds abuse).
    MAX_CONTENT_LENGTH: Annotated[int, Whole(1024, 16 * 1024 * 1024, "bytes")] = 64 * 1024
    #: Session cookies: not readable from scripts, not sent on cross-site subrequests (OWASP
    #: session management); Secure follows the issuer's scheme unless set explicitly.
    SESSION_COOKIE_HTTPONLY: Annotated[bool, Flag()] = True
    SESSION_COOKIE_SAMESITE: Annotated[str, OneOf(SAME_SITE)] = "Lax"
    REMEMBER_COOKIE_HTTPONLY: Annotated[bool, Flag()] = True
    REMEMBER_COOKIE_SAMESITE: Annotated[str, OneOf(SAME_SITE)] = "Lax"


def load_config(app: Flask, test_config: dict | None) -> None:
    """Defaults, then ``AUTHSERVER_*`` from the environment, then ``test_config``."""
    app.config.from_object(DefaultConfig)
    app.config.from_prefixed_env(PREFIX.rstrip("_"))
    if test_config:
        app.config.update(test_config)

    # Every declared setting against what it allows (``configrules``): one line naming the
    # variable, before anything reads a value.
    validate(DefaultConfig, app.config, PREFIX)
    app.config["KEY_ENCRYPTION_KEY_PREVIOUS"] = app.config["KEY_ENCRYPTION_KEY_PREVIOUS"] or ()
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = "sqlite:///" + str(
            Path(app.instance_path) / "authserver.sqlite3"
        )
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    app.config["ISSUER"] = app.config["ISSUER"].rstrip("/")

    issuer_is_loopback = is_loopback_url(app.config["ISSUER"])
    if not issuer_is_loopback and urlsplit(app.config["ISSUER"]).scheme != "https":
        raise SettingError(
            f"AUTHSERVER_ISSUER must use https unless it is a loopback address: "
            f"{app.config['ISSUER']!r}"
        )
    if not app.config["SECRET_KEY"]:
        if not issuer_is_loopback:
            # Several machines behind a load balancer must share one key; a generated one
            # would silently log people out whenever the balancer switches machines.
            raise SettingError("AUTHSERVER_SECRET_KEY must be set when the issuer is public.")
        app.config["SECRET_KEY"] = _instance_secret_key(Path(app.instance_path))

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
    """``CLEANUP_INTERVAL`` as seconds, or None when unset; anything else is a ``SettingError``."""
    return _one_setting("CLEANUP_INTERVAL", value)  # type: ignore[return-value]


def cache_check_interval(value: object) -> float:
    """``CACHE_CHECK_INTERVAL`` as seconds, 0 to 60; anything else is a ``SettingError``."""
    return _one_setting("CACHE_CHECK_INTERVAL", value)  # type: ignore[return-value]


def _one_setting(name: str, value: object) -> object:
    config = {name: value}
    validate(DefaultConfig, config, PREFIX)
    return config[name]


def check_environment() -> None:
    """This process's ``AUTHSERVER_*`` settings, checked as the app would check them at start
    (``SettingError`` on the first one not allowed), without making the app: gunicorn's master
    asks before it starts any worker (``authserver.gunicorn_settings``)."""
    load_config(Flask("authserver", instance_relative_config=True), None)


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
