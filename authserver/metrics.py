"""The authorization server's metrics, off unless ``AUTHSERVER_METRICS_ADDRESS`` is set.

The shared per-request ones (``servicemetrics``), plus what only this server knows, read after
each response from what the views already noted for the log line (``jsonlog``): token requests
by grant type and outcome, failed client authentications, throttled requests; and two events
counted where they happen: failed logins (the login view's ``g.login_failed``) and replayed
refresh tokens or codes (``reuse_detected``, called where the grant is ended).
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, g
from flask_sqlalchemy import SQLAlchemy

import servicemetrics
from jsonlog import notes_in

#: Where clients authenticate; ``invalid_client`` there is a failed client authentication.
CLIENT_AUTH_ENDPOINTS = frozenset({"/oauth/token", "/oauth/introspect", "/oauth/revoke"})
ISSUING = "/oauth/token"  # the endpoint that issues tokens

#: Counted from anywhere in the process once metrics are on; None while they are off.
_reuse = None
_outbox = None
_outbox_queued = None
_storage_up = None
_storage_transitions = None


def init_metrics(app: Flask, db: SQLAlchemy) -> None:
    instruments = servicemetrics.init_app(
        app, "authserver", "AUTHSERVER_METRICS_ADDRESS", observe=_observer
    )
    if instruments is None:
        return
    global _reuse
    _reuse = instruments.counter(
        "reuse_detected_total",
        "Replayed credentials that ended their grant: a rotated refresh token presented again "
        "(outside the retry window), or an authorization code redeemed twice.",
        ["credential"],
    )
    global _outbox, _outbox_queued
    _outbox = instruments.counter(
        "outbox_messages_total",
        "Outbox deliveries (mail) by kind and outcome: 'sent', 'failed' (a try that will be "
        "repeated after a backoff) or 'gave_up' (undelivered past "
        "AUTHSERVER_OUTBOX_GIVE_UP_AFTER).",
        ["kind", "outcome"],
    )
    _outbox_queued = instruments.gauge(
        "outbox_queued_messages",
        "Messages waiting in the outbox, as the last delivery run of any worker counted them.",
    )
    global _storage_up, _storage_transitions
    _storage_up = instruments.gauge(
        "throttling_storage_up",
        "1 while the throttling counters' storage (RATELIMIT_STORAGE_URI) answers, 0 while the "
        "worker that set it last counts in its own memory instead.",
    )
    _storage_up.set(1)
    _storage_transitions = instruments.counter(
        "throttling_storage_transitions_total",
        "A worker fell back from the throttling storage to its own memory ('memory'), or came "
        "back to it ('storage').",
        ["to"],
    )
    login_failures = instruments.counter(
        "login_failures_total", "Logins refused for a wrong email or password."
    )

    @app.teardown_request
    def _count_login_failure(error: BaseException | None) -> None:
        if g.get("login_failed"):
            login_failures.inc()

    with app.app_context():
        instruments.watch_pool(db.engine)


def reuse_detected(credential: str) -> None:
    """A replayed ``refresh_token`` or ``authorization_code`` ended its grant."""
    if _reuse is not None:
        _reuse.labels(credential).inc()


def outbox_delivered(sent: Mapping, failed: Mapping, gave_up: Mapping) -> None:
    """One outbox run's outcomes, each a count by kind."""
    if _outbox is None:
        return
    for outcome, counts in (("sent", sent), ("failed", failed), ("gave_up", gave_up)):
        for kind, count in counts.items():
            _outbox.labels(kind, outcome).inc(count)


def outbox_queued(count: int) -> None:
    if _outbox_queued is not None:
        _outbox_queued.set(count)


def throttling_storage(up: bool) -> None:
    """A worker fell back from the throttling storage (``up`` False) or came back to it."""
    if _storage_up is None or _storage_transitions is None:
        return
    _storage_up.set(1 if up else 0)
    _storage_transitions.labels("storage" if up else "memory").inc()


def _observer(instruments):
    from_notes = instruments.label
    token_requests = instruments.counter(
        "token_requests_total",
        "Token endpoint requests by grant type and outcome: 'ok' issued tokens, anything else "
        "is the error code of the refusal.",
        ["grant_type", "outcome"],
    )
    client_auth_failures = instruments.counter(
        "client_authentication_failures_total",
        "Requests refused with invalid_client at the token, introspection and revocation "
        "endpoints.",
        ["endpoint"],
    )
    throttled = instruments.counter(
        "throttled_requests_total", "Requests refused with 429 (throttling).", ["endpoint"]
    )

    def observe(environ: dict, endpoint: str, status: int) -> None:
        if status == 429:
            throttled.labels(endpoint).inc()
        if endpoint not in CLIENT_AUTH_ENDPOINTS:
            return
        notes = notes_in(environ)
        outcome = from_notes(notes.get("outcome"))
        if endpoint == ISSUING:
            token_requests.labels(from_notes(notes.get("grant_type")), outcome).inc()
        if outcome == "invalid_client":
            client_auth_failures.labels(endpoint).inc()

    return observe
