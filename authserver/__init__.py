"""The authorization server: accounts, developer console, consent, codes and tokens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from . import (
    ratelimit,  # noqa: F401 - registers the database:// storage that the limiter names
    storage_watch,
)
from .cli import register_cli
from .config import load_config
from .extensions import csrf, db, init_taking_back_hooks, limiter, login_manager, migrate
from .logs import configure_logging
from .metrics import init_metrics
from .oauth2 import init_oauth2
from .scheduled import init_cleanup_schedule, init_outbox_schedule
from .sessions_cookie import BrowserOnlySessionInterface
from .views import register_views
from .views.public_documents import PublicDocuments
from .writer_queue import use_writer_queue

#: The templates, static files and migration scripts ship inside the package (and its wheel).
PACKAGE_DIR = Path(__file__).resolve().parent


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        # Tests keep their instance folder (secret key, SQLite file) in a temporary directory.
        instance_path=(test_config or {}).get("INSTANCE_PATH"),
        instance_relative_config=True,
        template_folder=str(PACKAGE_DIR / "templates"),
        static_folder=str(PACKAGE_DIR / "static"),
    )
    load_config(app, test_config)
    app.session_interface = BrowserOnlySessionInterface()
    # Innermost, so the log line and request id still wrap every answer it gives.
    app.wsgi_app = PublicDocuments(app, app.wsgi_app)  # type: ignore[method-assign]
    # Inside ProxyFix (wrapped first), so a request's line names the client's address.
    configure_logging(app, "authserver")
    if app.config["TRUSTED_PROXIES"]:
        # The client's address and scheme as the proxies saw them; only as many hops as the
        # operator vouches for, since anyone can send X-Forwarded-For.
        hops = int(app.config["TRUSTED_PROXIES"])
        # (Flask's documented way to add WSGI middleware; its types call wsgi_app a method.)
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )

    db.init_app(app)
    with app.app_context():
        # This app's engine only: a resource API in the same process keeps plain connections.
        event.listen(db.engine, "do_connect", _sqlite_writer_queue)
    # Batch mode, so later ALTERs work on SQLite too.
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"), render_as_batch=True)
    # Their request hooks go only on the blueprints they apply to (``register_views``).
    csrf_hooks = init_taking_back_hooks(app, csrf.init_app)
    # The one Limiter serves every app this process makes (tests, the CLI): an earlier app's
    # RATELIMIT_DEFAULT or RATELIMIT_APPLICATION must not carry over, and init_app keeps them.
    limiter.limit_manager.set_default_limits([])
    limiter.limit_manager.set_application_limits([])
    # Flask-Limiter's documented setting: called on every refusal (keeps lockouts for an outage).
    app.config.setdefault("RATELIMIT_ON_BREACH_CALLBACK", storage_watch.remember_breach)
    limiter_hooks = init_taking_back_hooks(app, limiter.init_app)
    login_hooks = init_taking_back_hooks(app, login_manager.init_app)

    init_oauth2(app)
    register_views(app, csrf=csrf_hooks, limiter=limiter_hooks, login=login_hooks)
    register_cli(app)
    init_cleanup_schedule(app)  # AUTHSERVER_CLEANUP_INTERVAL: cleanup in each worker, if set
    init_outbox_schedule(app)  # AUTHSERVER_OUTBOX_INTERVAL: mail sent from each worker
    init_metrics(app, db)  # off unless AUTHSERVER_METRICS_ADDRESS is set
    storage_watch.init_storage_watch(app, limiter)  # the throttling storage's outages, visible
    return app


def _sqlite_writer_queue(dialect, connection_record, cargs, cparams) -> None:
    use_writer_queue(dialect.name, cargs, cparams)


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection, connection_record) -> None:
    # SQLite ignores ON DELETE CASCADE unless asked, per connection.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL: readers never block the writer, so a throttling count or a session's last use
        # (written on a connection of their own) cannot wait on a request's open read.
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode, NORMAL syncs at checkpoints, not at every commit: a power cut may lose
        # the last transactions (the last tokens issued), never corrupt the database.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
