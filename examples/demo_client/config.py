"""Settings from ``DEMO_CLIENT_*`` environment variables, with defaults for a loopback demo."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from flask import Flask

DEFAULT_SCOPE = "openid profile email offline_access events:read events:write"


class ConfigError(RuntimeError):
    """A setting the demo client cannot start with."""


class DefaultConfig:
    #: The authorization server; its discovery document names every endpoint.
    ISSUER = "http://127.0.0.1:5000"
    #: The resource API.
    API_URL = "http://127.0.0.1:5001"
    #: The registered client id (`flask --app authserver demo` registers ``demo-client``).
    CLIENT_ID = "demo-client"
    #: The demo client's secret, as `flask --app authserver demo` printed it: required, unless
    #: CLIENT_SECRET_FILE names a file holding it.
    CLIENT_SECRET: str | None = None
    #: A file holding the secret instead (read when CLIENT_SECRET is unset).
    CLIENT_SECRET_FILE: str | None = None
    #: The callback, exactly as registered.
    REDIRECT_URI = "http://127.0.0.1:5002/callback"
    #: Where the server sends the browser after logout (registered too).
    POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1:5002/"
    #: The scopes asked for.
    SCOPE = DEFAULT_SCOPE
    #: SQLAlchemy URL of its own database; a SQLite file, ``demo_client.sqlite3``, in the
    #: instance folder unless set.
    DATABASE_URL: str | None = None
    #: Session signing key; None means one is generated once and kept in the instance folder.
    SECRET_KEY: str | None = None
    #: Seconds every call to the server or the API may take.
    HTTP_TIMEOUT = 10
    #: Seconds before its expiry that an access token counts as expired (clock skew, latency).
    TOKEN_LEEWAY = 30

    #: The session cookie's name: cookies ignore ports, so never Flask's default "session"
    #: (SPEC, Policy).
    SESSION_COOKIE_NAME = "demo_client_session"
    #: The session cookie is not readable from scripts, nor sent on cross-site subrequests.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    #: Send the session cookie over https only: set it to true when served over https.
    SESSION_COOKIE_SECURE = False
    #: The CSRF token lives as long as the session.
    WTF_CSRF_TIME_LIMIT = None

    # Test hooks, not environment settings.
    #: Seconds since the epoch; tests pass a fake clock to expire tokens without waiting.
    CLOCK = time.time
    #: Called with every ``requests`` session the app makes (Authlib's and the API's), e.g. to
    #: mount a transport adapter in tests; not from the environment.
    HTTP_SESSION_HOOK = None


def load_config(app: Flask, test_config: dict | None) -> None:
    app.config.from_object(DefaultConfig)
    if test_config is None:
        app.config.from_prefixed_env("DEMO_CLIENT")
    else:
        app.config.update(test_config)

    instance = Path(app.instance_path)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(instance / "secret_key")
    if not app.config["DATABASE_URL"]:
        instance.mkdir(parents=True, exist_ok=True)
        app.config["DATABASE_URL"] = f"sqlite:///{instance / 'demo_client.sqlite3'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]

    if not app.config["CLIENT_SECRET"] and app.config["CLIENT_SECRET_FILE"]:
        path = Path(app.config["CLIENT_SECRET_FILE"])
        try:
            app.config["CLIENT_SECRET"] = path.read_text().strip()
        except OSError as error:
            raise ConfigError(
                f"DEMO_CLIENT_CLIENT_SECRET_FILE: cannot read {path}: {error}"
            ) from None
    if not app.config["CLIENT_SECRET"]:
        raise ConfigError(
            "Set DEMO_CLIENT_CLIENT_SECRET (or DEMO_CLIENT_CLIENT_SECRET_FILE) to the secret "
            "`flask --app authserver demo` printed."
        )
    # from_prefixed_env parses values as JSON: a secret of digits must stay a string.
    app.config["CLIENT_SECRET"] = str(app.config["CLIENT_SECRET"])
    app.config["CLIENT_ID"] = str(app.config["CLIENT_ID"])
    for name in ("ISSUER", "API_URL"):
        app.config[name] = str(app.config[name]).rstrip("/")
    if not callable(app.config["CLOCK"]):
        raise ConfigError("CLOCK must be a function returning seconds since the epoch.")


def _instance_secret(path: Path) -> str:
    """A session key made once and kept in the instance folder, so restarts keep sessions."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker made it first
        time.sleep(0.1)
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
