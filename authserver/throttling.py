"""Throttling of the machine endpoints: which limit applies to what, and its key.

Token, introspection and revocation (``machine_endpoint``):

=================================  ======================================  ======================
limit (setting)                    key                                     what counts
=================================  ======================================  ======================
MACHINE_RATE_LIMIT_PER_CLIENT      the client, per endpoint                requests that
                                                                           authenticated as it
MACHINE_AUTH_FAILURES_PER_CLIENT   the client_id claimed + the address     failed client
                                   (all three endpoints together)          authentications
MACHINE_AUTH_FAILURES_PER_ADDRESS  the address (all three endpoints)       failed client
                                                                           authentications
=================================  ======================================  ======================

Registration (``registration_endpoint``): ``REGISTRATION_RATE_LIMIT`` per address for every
``POST /oauth/register``, and the failures per address for the RFC 7592 management endpoint
(a wrong registration access token is a failed authentication too).

Only what a client did itself spends its budget: a request naming a client but failing to
authenticate as it counts against the failure limits of *its sender's address*, so nobody can
lock a client out from elsewhere. Successful requests never count per address: an office NAT
or a mobile carrier puts thousands of apps' users behind one address. Every limit is checked
before the view runs; a refused request is answered here (429, RFC 6749 §5.2 JSON) and the view,
with everything it would store, never runs.

Counters live in the limiter's storage (``RATELIMIT_STORAGE_URI``: the database by default,
shared by every worker and node, or Redis). On the database, the per-client budget is counted
in each process and written at most once per ``RATELIMIT_SYNC_INTERVAL`` (1 s) per key
(``BATCHED_MARK``), and every machine key is read at most that often (``CACHED_MARK``;
failures are written at once), so a token request pays no transaction for its limits; a limit
may be overshot by about a second of its senders' traffic through other processes (the bound
is in ``ratelimit._Batches``). Redis counts them exactly, a round trip each.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterable
from functools import wraps
from urllib.parse import unquote

from flask import Flask, after_this_request, current_app, g, jsonify, request
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response

from .extensions import limiter
from .ratelimit import BATCHED_MARK, CACHED_MARK

#: Where the app keeps Flask-Limiter's after-request hooks (``count_after_answers_with``).
_AFTER_ANSWER_HOOKS = "authserver.throttling_after_answer"

#: Counted together whichever endpoint they happen at: guessing a secret is the same guess at
#: the token, introspection or revocation endpoint.
FAILURES_SCOPE = "client-auth-failures"


def client_authenticated(client_id: str) -> None:
    """Called by the authorization server once a request authenticated as ``client_id``."""
    g.throttle_authenticated_client = client_id


def client_authentication_failed() -> None:
    """Called by the authorization server when a client failed to authenticate."""
    g.throttle_client_auth_failed = True


def authenticated_client_id() -> str | None:
    """The client this request authenticated as, if it did (a public client "authenticates"
    by naming itself)."""
    return g.get("throttle_authenticated_client")


def claimed_client_id() -> str | None:
    """The client the request names (HTTP Basic, else the form): known before the view runs,
    read once per request (the limits' keys and the refusal record ask for it)."""
    if "throttle_claimed_client" not in g:
        g.throttle_claimed_client = _read_claimed_client_id()
    return g.throttle_claimed_client


def _read_claimed_client_id() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "basic":
        # RFC 6749 §2.3.1: form-urlencoded, then base64. Authlib checks the credentials; a
        # malformed header names no client (and fails authentication: a counted failure).
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except ValueError:  # binascii.Error, UnicodeDecodeError
            return None
        return unquote(decoded.split(":", 1)[0]) or None
    return request.form.get("client_id") or None


def _short(value: str) -> str:
    """A storage key part of bounded length: client_ids are short; a stranger's value may not be."""
    if len(value) <= 64 and value.isprintable() and "/" not in value:
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _client_key() -> str:
    return BATCHED_MARK + _short(claimed_client_id() or "")


def _client_and_address_key() -> str:
    return f"{CACHED_MARK}{get_remote_address()}|{_short(claimed_client_id() or '-')}"


def _address_key() -> str:
    return CACHED_MARK + get_remote_address()


def _no_client_named() -> bool:
    return claimed_client_id() is None


def _authenticated_as_claimed(response: Response) -> bool:
    """Spend a client's budget only on requests that proved to be that client."""
    authenticated = authenticated_client_id()
    return authenticated is not None and authenticated == claimed_client_id()


def _authentication_failed(response: Response) -> bool:
    # A 401 without the mark: the registration management endpoint's wrong access token.
    return bool(g.get("throttle_client_auth_failed")) or response.status_code == 401


def _setting(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def too_many_requests(limit: RequestLimit) -> Response:
    """429 (RFC 6585 §4) with Retry-After and a body in the RFC 6749 §5.2 shape.

    RFC 6749 has no error code for rate limits. ``temporarily_unavailable`` is its code for "the
    server is temporarily unable to handle the request" and is what this server already answers
    (with 503) when its database is away, so a client that retries those after Retry-After does
    the right thing here too. ``slow_down`` (RFC 8628 §3.5) is not used: it belongs to device-code
    polling and tells the client to add 5 seconds to its polling interval, which means nothing to
    the other grants.
    """
    wait = max(1, int(limit.reset_at - time.time()))
    response = jsonify(
        error="temporarily_unavailable",
        error_description=f"Too many requests; try again in {wait} seconds.",
    )
    response.status_code = 429
    response.headers["Retry-After"] = str(wait)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


_per_client = limiter.limit(
    _setting("MACHINE_RATE_LIMIT_PER_CLIENT"),
    key_func=_client_key,
    exempt_when=_no_client_named,
    deduct_when=_authenticated_as_claimed,
    on_breach=too_many_requests,
)
_failures_per_client = limiter.shared_limit(
    _setting("MACHINE_AUTH_FAILURES_PER_CLIENT"),
    FAILURES_SCOPE,
    key_func=_client_and_address_key,
    deduct_when=_authentication_failed,
    on_breach=too_many_requests,
)
_failures_per_address = limiter.shared_limit(
    _setting("MACHINE_AUTH_FAILURES_PER_ADDRESS"),
    FAILURES_SCOPE + "-per-address",
    key_func=_address_key,
    deduct_when=_authentication_failed,
    on_breach=too_many_requests,
)
_registrations = limiter.limit(
    _setting("REGISTRATION_RATE_LIMIT"),
    key_func=get_remote_address,
    methods=["POST"],
    exempt_when=lambda: not current_app.config["REGISTRATION_ENABLED"],  # a 404 costs nothing
    on_breach=too_many_requests,
)


def count_after_answers_with(app: Flask, hooks: Iterable[Callable]) -> None:
    """Flask-Limiter's after-request hooks, which count each ``deduct_when`` limit once the view
    has answered: ``create_app`` takes them off the app's every request and hands them here,
    for the throttled views only (``counted_after_answer``)."""
    app.extensions[_AFTER_ANSWER_HOOKS] = tuple(hooks)


def counted_after_answer(view: Callable) -> Callable:
    """Run the limiter's counting hooks after ``view``'s answer (every view with a
    ``deduct_when`` limit needs this, outside its limits' decorators)."""

    @wraps(view)
    def counted(*args, **kwargs):
        for hook in current_app.extensions.get(_AFTER_ANSWER_HOOKS, ()):
            after_this_request(hook)
        return view(*args, **kwargs)

    return counted


def machine_endpoint(view: Callable) -> Callable:
    """The limits of the token, introspection and revocation endpoints."""
    return counted_after_answer(_failures_per_address(_failures_per_client(_per_client(view))))


def registration_endpoint(view: Callable) -> Callable:
    """Registration (RFC 7591) and its management endpoint (RFC 7592)."""
    return counted_after_answer(_failures_per_address(_registrations(view)))
