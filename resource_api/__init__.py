"""The resource API: each user's calendar events and profile, guarded by scoped bearer tokens.

It trusts the authorization server only through the issuer's published keys (and RFC 7662
introspection, when enabled); it never imports ``authserver`` nor reads its database.
"""

from __future__ import annotations

from typing import cast

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import load_config
from .cors import init_cors
from .database import ping_after_idle
from .errors import register_error_handlers
from .extensions import db, migrate
from .health import bp as health_blueprint
from .logs import configure_logging
from .metrics import init_metrics
from .protection import init_protection
from .resource_metadata import bp as resource_metadata_blueprint
from .views import bp as api_blueprint  # importing it registers the models' tables too


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    load_config(app, test_config)
    # Keys in the order the SPEC lists them (id, title, ...), not alphabetical. (Flask types
    # app.json as the base JSONProvider; sort_keys is its default provider's.)
    cast(DefaultJSONProvider, app.json).sort_keys = False
    # Inside ProxyFix (wrapped first), so a request's line names the client's address.
    configure_logging(app, "resource_api")
    if app.config["TRUSTED_PROXIES"]:
        # Only the client's address (for the logs); as many hops as the operator vouches for.
        # (Flask's documented way to add WSGI middleware; its types call wsgi_app a method.)
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"]
        )

    db.init_app(app)
    if not app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping"):
        with app.app_context():
            ping_after_idle(db.engine)
    migrate.init_app(app, db)
    init_protection(app)
    register_error_handlers(app)
    init_cors(app)
    app.register_blueprint(api_blueprint)
    app.register_blueprint(health_blueprint)
    app.register_blueprint(resource_metadata_blueprint)
    init_metrics(app, db)  # off unless RESOURCE_API_METRICS_ADDRESS is set
    return app
