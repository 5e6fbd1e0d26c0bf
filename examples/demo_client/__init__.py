"""The demo client: the app side of "Sign up with Authserver", as a third party builds it.

It talks to the authorization server and the resource API over HTTP only, and imports
neither (tests check this).
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from flask_wtf import CSRFProtect

from .config import load_config
from .models import db
from .oauth import init_oauth

csrf = CSRFProtect()


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        # Its own instance folder (SQLite file, session key), next to this package by default.
        instance_path=(test_config or {}).get("INSTANCE_PATH")
        or os.environ.get("DEMO_CLIENT_INSTANCE_PATH")
        or str(Path(__file__).resolve().parent / "instance"),
        instance_relative_config=True,
    )
    load_config(app, test_config)
    db.init_app(app)
    csrf.init_app(app)
    init_oauth(app)

    from .views import backchannel_logout, bp

    app.register_blueprint(bp)
    csrf.exempt(backchannel_logout)  # Authserver's POST carries a signed token, not a cookie
    with app.app_context():
        # A demo: the two tables are made on start, no migrations.
        db.create_all()
        db.engine.dispose()
    return app
