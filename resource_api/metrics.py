"""The resource API's metrics, off unless ``RESOURCE_API_METRICS_ADDRESS`` is set: the shared
per-request ones (``servicemetrics``), the database pool, and fetches of the issuer's JWKS."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

import servicemetrics

F = TypeVar("F", bound=Callable)

#: The JWKS fetch counter once metrics are on; None while they are off.
_jwks_fetches = None


def init_metrics(app: Flask, db: SQLAlchemy) -> None:
    instruments = servicemetrics.init_app(app, "resource_api", "RESOURCE_API_METRICS_ADDRESS")
    if instruments is None:
        return
    global _jwks_fetches
    _jwks_fetches = instruments.counter(
        "jwks_fetches_total",
        "Fetches of the issuer's JWKS by outcome: ok, or error (unreachable, or not a key set).",
        ["outcome"],
    )
    with app.app_context():
        instruments.watch_pool(db.engine)


def counted_jwks_fetch(fetch: F) -> F:
    """Counts each call of ``fetch`` as an ``ok`` or an ``error`` (it raised) JWKS fetch."""

    @functools.wraps(fetch)
    def counted(*args, **kwargs):
        counter = _jwks_fetches
        if counter is None:
            return fetch(*args, **kwargs)
        try:
            result = fetch(*args, **kwargs)
        except Exception:
            counter.labels("error").inc()
            raise
        counter.labels("ok").inc()
        return result

    return counted  # type: ignore[return-value]
