"""Configuration: one class of documented defaults, then ``RESOURCE_API_*`` environment variables.

Every setting can be overridden with an environment variable of the same name prefixed with
``RESOURCE_API_`` (``RESOURCE_API_INTROSPECTION=1``); Flask parses values as JSON when they can be,
so ``1``, ``true`` and ``5`` arrive as numbers and booleans.
"""

from __future__ import annotations

import ipaddress
import time
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
    SettingError,
    Text,
    Url,
    Whole,
    validate,
)

from .database import engine_options

#: A setting that would make the API unsafe or unable to start (``configrules``' error, so the
#: entry points that print it as one line catch both services' alike).
ConfigError = SettingError

#: The environment variables' prefix.
PREFIX = "RESOURCE_API_"


def _origins(value: object) -> object:
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set | frozenset):
        raise ValueError
    return value


ORIGINS = Check("origins (scheme://host[:port]) separated by spaces", _origins)


class DefaultConfig:
    #: The authorization server to trust; its tokens' ``iss`` (RFC 9068 §4, SPEC env table).
    #: ``https``, or ``http`` on a loopback address only.
    ISSUER: Annotated[str, Url()] = "http://127.0.0.1:5000"
    #: This API's identifier, the ``aud`` it accepts (RFC 9068 §4, SPEC env table).
    AUDIENCE: Annotated[str, Text()] = "http://127.0.0.1:5001"
    #: SQLAlchemy URL of its own database (``sqlite:///...`` or ``postgresql+psycopg://...``);
    #: None means a SQLite file, ``resource_api.sqlite3``, in the instance folder (SPEC:
    #: embedded default).
    DATABASE_URL: Annotated[str | None, Optional(DatabaseUrl())] = None
    #: The ``realm`` of WWW-Authenticate challenges (RFC 6750 §3); None means the AUDIENCE.
    REALM: Annotated[str | None, Optional(Text())] = None
    #: Accept ``?access_token=`` (RFC 6750 §2.3 says SHOULD NOT: URLs end up in logs).
    ALLOW_QUERY_TOKEN: Annotated[bool, Flag()] = False
    #: Also ask the issuer's RFC 7662 endpoint, so revocation takes effect before expiry.
    INTROSPECTION: Annotated[bool, Flag()] = False
    #: Ask it only about requests that change something (POST, PUT, PATCH, DELETE): a revoked
    #: token stops writing within INTROSPECTION_CACHE_TTL, and reads stay local (no network
    #: hop) until the token expires. Implied by INTROSPECTION.
    INTROSPECT_WRITES: Annotated[bool, Flag()] = False
    #: Credentials for the introspection endpoint (RFC 7662 §2.1 requires the caller to
    #: authenticate); sent with client_secret_basic (RFC 6749 §2.3.1).
    INTROSPECTION_CLIENT_ID: Annotated[str | None, Optional(Text())] = None
    INTROSPECTION_CLIENT_SECRET: Annotated[str | None, Optional(Text(secret=True))] = None
    #: Seconds an introspection answer is reused: the longest a revoked token keeps working.
    INTROSPECTION_CACHE_TTL: Annotated[float, Number(0, 3600, "seconds")] = 5
    #: Clock skew tolerated on ``exp``/``nbf``/``iat`` (RFC 7519 §4.1.4: "a few minutes" at most).
    LEEWAY: Annotated[float, Number(0, 300, "seconds")] = 30
    #: Seconds the JWKS is trusted before it is fetched again, so a withdrawn key stops working.
    JWKS_MAX_AGE: Annotated[float, Number(0, 86_400, "seconds")] = 600
    #: Seconds the discovery document is reused (OIDC Discovery leaves caching to the client).
    METADATA_MAX_AGE: Annotated[float, Number(0, 86_400, "seconds")] = 3600
    #: Fewest seconds between two fetches from the issuer caused by an unknown ``kid`` or a failed
    #: fetch: tokens with made-up kids must not turn the API into a flood against the issuer.
    ISSUER_MIN_REFETCH_INTERVAL: Annotated[float, Number(0, 3600, "seconds")] = 10
    #: Seconds to connect to and then to hear from the issuer; a stalled issuer must not hold
    #: every worker of the API.
    ISSUER_CONNECT_TIMEOUT: Annotated[float, Number(0, 60, "seconds", above=True)] = 3.0
    ISSUER_READ_TIMEOUT: Annotated[float, Number(0, 60, "seconds", above=True)] = 5.0
    #: Largest request body accepted; events are small, this bounds abuse (413 beyond it).
    MAX_CONTENT_LENGTH: Annotated[int, Whole(1024, 16 * 1024 * 1024, "bytes")] = 64 * 1024
    #: Browser origins (``scheme://host[:port]``, space-separated) whose pages may call the API
    #: (CORS, SPEC env table). None by default: a single-page app on another origin must be
    #: listed here, exactly as its browser sends ``Origin``. Never ``*``: tokens are involved.
    CORS_ORIGINS: Annotated[str, ORIGINS] = ""
    #: Proxies in front whose X-Forwarded-For (the client's address) and X-Request-ID are
    #: trusted; 0 means the socket's peer is the client. Set it to the number of proxies.
    TRUSTED_PROXIES: Annotated[int, Whole(0, 10)] = 0
    #: Logs on stdout: "json" (one JSON object a line) or "text" (for a person at a terminal).
    LOG_FORMAT: Annotated[str, OneOf(("json", "text"))] = "json"
    #: ``host:port`` serving Prometheus metrics; None: off, and no per-request cost. Never the
    #: public port, and keep it private: metrics show traffic.
    METRICS_ADDRESS: Annotated[str | None, Optional(HostPort())] = None
    #: Seconds since the epoch; tests pass a controllable clock instead (not settable from env).
    CLOCK: Annotated[object, Function()] = time.time


def load_config(app: Flask, test_config: dict | None) -> None:
    """Defaults, then ``RESOURCE_API_*`` from the environment, then ``test_config``."""
    app.config.from_object(DefaultConfig)
    app.config.from_prefixed_env(PREFIX.rstrip("_"))
    if test_config:
        app.config.update(test_config)
    # Every declared setting against what it allows (``configrules``), one line naming it.
    validate(DefaultConfig, app.config, PREFIX)

    if not app.config["DATABASE_URL"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = "sqlite:///" + str(
            Path(app.instance_path) / "resource_api.sqlite3"
        )
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS")
    if options is None:
        options = engine_options(app.config["DATABASE_URL"])
    # A failed statement's error (and so its log line) shows the SQL, never its parameters
    # (events' text, people's subjects), unless the options say otherwise.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"hide_parameters": True, **options}

    # The authorization server drops a trailing slash from its issuer; do the same so the
    # exact string comparison of ``iss`` (RFC 9068 §4) does not fail on a typing habit.
    app.config["ISSUER"] = str(app.config["ISSUER"]).rstrip("/")
    _check_issuer(app.config["ISSUER"])
    if not isinstance(app.config["AUDIENCE"], str) or not app.config["AUDIENCE"]:
        raise ConfigError("RESOURCE_API_AUDIENCE must be a non-empty string.")
    app.config["REALM"] = app.config["REALM"] or app.config["AUDIENCE"]

    app.config["CORS_ORIGINS"] = _cors_origins(app.config["CORS_ORIGINS"])

    for name in ("INTROSPECTION", "INTROSPECT_WRITES"):
        if app.config[name] and not (
            app.config["INTROSPECTION_CLIENT_ID"] and app.config["INTROSPECTION_CLIENT_SECRET"]
        ):
            raise ConfigError(
                f"RESOURCE_API_{name}=1 needs RESOURCE_API_INTROSPECTION_CLIENT_ID and "
                "RESOURCE_API_INTROSPECTION_CLIENT_SECRET (RFC 7662 §2.1: callers authenticate)."
            )


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_issuer(issuer: str) -> None:
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"RESOURCE_API_ISSUER must be an http(s) URL, not {issuer!r}.")
    if parts.query or parts.fragment:
        # RFC 8414 §2: the issuer identifier has no query or fragment components.
        raise ConfigError(f"RESOURCE_API_ISSUER must not have a query or fragment: {issuer!r}.")
    if parts.scheme == "http" and not is_loopback_url(issuer):
        # Keys and introspection answers fetched over plain http could be forged on the way.
        raise ConfigError(
            f"RESOURCE_API_ISSUER must use https unless it is a loopback address: {issuer!r}."
        )


def _cors_origins(value: object) -> frozenset[str]:
    """``RESOURCE_API_CORS_ORIGINS`` as a set of origins; anything but an origin is refused."""
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set | frozenset):
        raise ConfigError(f"RESOURCE_API_CORS_ORIGINS must be space-separated origins: {value!r}.")
    origins = set()
    for item in items:
        parts = urlsplit(str(item))
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username
            or str(item) != str(item).lower()
        ):
            raise ConfigError(
                "RESOURCE_API_CORS_ORIGINS takes origins as browsers send them "
                f"(scheme://host[:port], lower case, no path), not {item!r}."
            )
        origins.add(str(item))
    return frozenset(origins)


def check_environment() -> None:
    """This process's ``RESOURCE_API_*`` settings, checked as the app would check them at start
    (``SettingError`` on the first one not allowed), without making the app: gunicorn's master
    asks before it starts any worker (``authserver.gunicorn_settings``)."""
    load_config(Flask("resource_api", instance_relative_config=True), None)
