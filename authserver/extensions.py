"""Flask extensions, created unbound and bound in ``create_app``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from .models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@dataclass(frozen=True)
class RequestHooks:
    """The request hooks an extension's ``init_app`` registered for every request of the app."""

    before: tuple[Callable, ...]
    after: tuple[Callable, ...]
    teardown: tuple[Callable, ...]


def init_taking_back_hooks(app: Flask, init_app: Callable[[Flask], None]) -> RequestHooks:
    """Bind an extension with ``init_app``, and take back the request hooks it registered on the
    whole app: the app registers them again only where they apply (``views.register_views``),
    so a JWKS or token request does not pay for CSRF, login or throttling work it never needs.
    """
    registries: tuple[dict[Any, list[Any]], ...] = (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
    )
    had = [list(registry.get(None, ())) for registry in registries]
    init_app(app)
    taken = []
    for registry, before in zip(registries, had, strict=True):
        now = registry.get(None, [])
        if now[: len(before)] != before:
            raise RuntimeError(f"{init_app!r} reordered the app's request hooks")
        taken.append(tuple(now[len(before) :]))
        registry[None] = before
    return RequestHooks(*taken)
