"""Throttling: which limit applies to what, and its key.

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

Logins (``login_attempts``): failed logins per account and address (``LOGIN_FAILURES_PER_ACCOUNT``,
the account as its address's ``email_key``) and per address (``LOGIN_FAILURES_PER_ADDRESS``).
Each attempt is counted before its password is checked and given back unless it failed
(``login_failed``), so simultaneous guesses cannot overshoot the limit. Sign-ups (``signups``):
``SIGNUP_RATE_LIMIT`` per address. Both answer a person with the page ``too_many_attempts``.

"The address" is ``sender_address()`` everywhere, logins and sign-ups included: an IPv4 address,
or an IPv6 address's /64 (a subscriber is given a whole /64 and can send from any address in
it), with ``::ffff:a.b.c.d`` counted as ``a.b.c.d``.

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
import functools
import hashlib
import ipaddress
import json
import logging
import math
import time
from collections.abc import Callable, Iterable

from flask import (
    Flask,
    Response,
    after_this_request,
    current_app,
    g,
    jsonify,
    make_response,
    render_template,
    request,
    session,
)
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from flask_login import current_user

from .extensions import limiter
from .ratelimit import BATCHED_MARK, CACHED_MARK, within_window
from .security.addresses import email_key
from .security.http_basic import basic_client_id

#: Counted together whichever endpoint they happen at: guessing a secret is the same guess at
#: the token, introspection or revocation endpoint.
FAILURES_SCOPE = "client-auth-failures"
#: Marks the key of a limit on attempts (``attempts_limited``).
ATTEMPT_MARK = "attempt:"
#: A refund is made only this long (seconds) before its window ends, so it lands in the window
#: the attempt was counted in and never in the next one.
_REFUND_MARGIN = 1.0

_log = logging.getLogger(__name__)

#: Where the app keeps Flask-Limiter's after-request hooks (``count_after_answers_with``).
_AFTER_ANSWER_HOOKS = "authserver.throttling_after_answer"


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
        # Authlib checks the credentials; a malformed header names no client (and fails
        # authentication: a counted failure).
        try:
            return basic_client_id(credentials) or None
        except ValueError:  # binascii.Error, UnicodeDecodeError
            return None
    return request.form.get("client_id") or _assertion_subject() or None


def _assertion_subject() -> str | None:
    """The client a JWT client assertion (RFC 7523) names, unverified: it only picks the
    counter a failure is charged to, as an HTTP Basic user name would."""
    assertion = request.form.get("client_assertion", "")
    parts = assertion.split(".")
    if len(parts) != 3 or len(assertion) > 8000:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, RecursionError):  # binascii.Error and UnicodeDecodeError among them
        return None
    sub = payload.get("sub") if isinstance(payload, dict) else None
    return sub if isinstance(sub, str) and 0 < len(sub) <= 200 else None


def sender_address() -> str:
    """Who sent the request, as every per-address limit counts it (see ``address_key``)."""
    return address_key(get_remote_address())


def address_key(address: str) -> str:
    """An IPv4 address whole; an IPv6 address by its /64, since a subscriber is given a whole
    /64 (RFC 6177) and can send from any of its 2^64 addresses; an IPv4-mapped IPv6 address
    (``::ffff:a.b.c.d``, from a dual-stack socket) as the IPv4 address it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return _short(address)  # not an address: bounded, and never a storage mark
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return f"{ipaddress.IPv6Address(int(ip) >> 64 << 64)}/64"
    return str(ip)


def _short(value: str) -> str:
    """A storage key part of bounded length: client_ids are short; a stranger's value may not be."""
    if len(value) <= 64 and value.isprintable() and "/" not in value:
        return value
    return "sha256-" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def metadata_document_fetch_allowed(host: str) -> bool:
    """Whether one more Client ID Metadata Document may be fetched from ``host`` this minute
    (``CIMD_FETCHES_PER_HOST_PER_MINUTE``, over every worker and node): made-up URLs on one
    host must not make this server that host's load generator."""
    limit = int(current_app.config["CIMD_FETCHES_PER_HOST_PER_MINUTE"])
    return within_window(f"metadata-fetch:{_short(host)}", 60, limit)


def _client_key() -> str:
    return BATCHED_MARK + _short(claimed_client_id() or "")


def _client_and_address_key() -> str:
    return f"{CACHED_MARK}{sender_address()}|{_short(claimed_client_id() or '-')}"


def _address_key() -> str:
    return CACHED_MARK + sender_address()


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
    key_func=sender_address,
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

    @functools.wraps(view)
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


def attempts_limited(
    *limits: tuple[str, Callable[[], str]],
    failed: Callable[[Response], bool],
    on_breach: Callable[[RequestLimit], Response],
    shared: str | None = None,
) -> Callable[[Callable], Callable]:
    """Limits on attempts at a secret (a password): ``(setting, key function)`` pairs.

    Each POST is counted *before* the view checks anything, in one atomic increment that also
    tells whether the limit is passed; an attempt that did not fail (``failed(response)`` is
    false: the right password, a form without one, a refusal) is given back once answered.
    Counting failures after the check instead (Flask-Limiter's ``deduct_when``) tests the
    limit first and counts later, so any number of simultaneous guesses, one per worker or
    thread, all pass the test before the first is counted. Here at most the limit's amount of
    failures are checked in a window, however many arrive at once: a guess in flight holds its
    place until it is answered, so guesses beyond the limit are refused even while the earlier
    ones may still turn out right (and, once they did, the next guess is let in again).

    A refund goes only into the window the attempt was counted in (not within
    ``_REFUND_MARGIN`` of its end): given back to the next window, attempts that straddle a
    window's end would each buy a guess there. The storage's counters are exact for these keys
    (``ratelimit``: no ``BATCHED_MARK``/``CACHED_MARK``; Redis and memory are exact too).

    Each view decorated has counters of its own, unless ``shared`` names a scope: then every
    view decorated with that name counts into one (several forms guessing the same secret).
    """

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def counted(*args: object, **kwargs: object) -> object:
            _settle_attempts_after_response(failed)
            return view(*args, **kwargs)

        def refused(limit: RequestLimit) -> Response:
            _settle_attempts_after_response(failed)
            return on_breach(limit)

        limited: Callable[..., object] = counted
        for setting, key_func in limits:
            key = functools.partial(_attempt_key, key_func)
            if shared is None:
                limit = limiter.limit(
                    _setting(setting), key_func=key, methods=["POST"], on_breach=refused
                )
            else:
                limit = limiter.shared_limit(
                    _setting(setting),
                    f"{shared}-{setting}",
                    key_func=key,
                    methods=["POST"],
                    on_breach=refused,
                )
            limited = limit(limited)
        return limited

    return decorate


def _attempt_key(key_func: Callable[[], str]) -> str:
    return ATTEMPT_MARK + key_func()


def _settle_attempts_after_response(failed: Callable[[Response], bool]) -> None:
    """Called once the attempt limits are counted (before the view, or on a refusal): notes
    the window each count went into and gives them back after the response, unless failed.
    (The window is read just after the count: one that ended in those microseconds would be
    taken for the next one's, and a refund could go there.)"""
    if "throttle_attempts" in g:
        return
    counted_here = [c for c in limiter.current_limits if "/" + ATTEMPT_MARK in c.key]
    g.throttle_attempts = []
    if not counted_here:
        return  # throttling off, or a GET
    storage = limiter.limiter.storage  # the in-memory fallback's while the storage is away
    try:
        g.throttle_attempts = [(c, storage.get_expiry(c.key)) for c in counted_here]
    except Exception:  # whatever the storage raises: these attempts stay counted, never a 500
        _log.exception("Could not read the window of a counted attempt")

    @after_this_request
    def give_back(response: Response) -> Response:
        if not failed(response):
            _refund(g.throttle_attempts)
        return response


def _refund(attempts: list[tuple[RequestLimit, float]]) -> None:
    now = time.time()
    for counted, window_ends_at in attempts:
        if now >= window_ends_at - _REFUND_MARGIN:
            continue  # that window is over (or nearly): the attempt stays counted in it
        try:
            limiter.limiter.hit(counted.limit, *counted.request_args, cost=-1)
        except Exception:  # whatever the storage raises: one attempt too many, never a 500
            _log.exception("Could not give back a counted attempt (%s)", counted.key)


# --- people: logins and sign-ups ---------------------------------------------------------------


def too_many_attempts(limit: RequestLimit) -> Response:
    """The page a person gets: 429 that says when to try again (RFC 6585 §4), with Retry-After."""
    wait = max(1, limit.reset_at - int(time.time()))
    minutes = max(1, math.ceil(wait / 60))
    response = make_response(
        render_template(
            "errors/error.html",
            title="Too many attempts",
            message="There were too many unsuccessful attempts from your network. For your "
            f"safety, try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        ),
        429,
    )
    response.headers["Retry-After"] = str(wait)
    return response


def login_failed() -> None:
    """The login view's word that this attempt failed (a wrong password): it stays counted."""
    g.login_failed = True


def _attempt_failed(response: Response) -> bool:
    return bool(g.get("login_failed"))


def _account_and_address() -> str:
    """One account tried from one address: the address's ``email_key`` (a hash), so every
    spelling that finds the account counts against it."""
    account = email_key(str(request.form.get("email", "")))[:32]
    return f"{sender_address()}|{account}"


def login_attempts(view: Callable) -> Callable:
    """The login form's limits: failed logins per account and address, and per address."""
    return attempts_limited(
        ("LOGIN_FAILURES_PER_ACCOUNT", _account_and_address),
        ("LOGIN_FAILURES_PER_ADDRESS", sender_address),
        failed=_attempt_failed,
        on_breach=too_many_attempts,
    )(view)


def second_factor_failed() -> None:
    """A second-factor form's word that this code was wrong: it stays counted."""
    g.second_factor_failed = True


def _second_factor_failed(response: Response) -> bool:
    return bool(g.get("second_factor_failed"))


def second_factor_attempts(account: Callable[[], str]) -> Callable[[Callable], Callable]:
    """The code forms' limit: wrong codes per account (``account()`` names it, from the pending
    login or the person logged in), counted before the check like passwords are."""
    return attempts_limited(
        ("SECOND_FACTOR_FAILURES_PER_ACCOUNT", lambda: "mfa|" + _short(account())),
        failed=_second_factor_failed,
        on_breach=too_many_attempts,
    )


def signups(view: Callable) -> Callable:
    """The sign-up form's limit: ``SIGNUP_RATE_LIMIT`` sign-ups per address."""
    return limiter.limit(
        _setting("SIGNUP_RATE_LIMIT"),
        key_func=sender_address,
        methods=["POST"],
        on_breach=too_many_attempts,
    )(view)


# --- people: mail-sending forms and the password checks of the account page -------------------


def _requested_account() -> str:
    """The account a "forgot password" asks for, from anywhere (its ``email_key``, so every
    spelling counts alike); an address with no account is counted the same, so a 429 tells
    nothing about who has one."""
    return "account|" + email_key(str(request.form.get("email", "")))[:32]


def password_resets(view: Callable) -> Callable:
    """ "Forgot password": ``PASSWORD_RESET_PER_ACCOUNT`` per account (the mail one stranger can
    make a person receive) and ``PASSWORD_RESET_PER_ADDRESS`` per address."""
    view = limiter.limit(
        _setting("PASSWORD_RESET_PER_ACCOUNT"),
        key_func=_requested_account,
        methods=["POST"],
        on_breach=too_many_attempts,
    )(view)
    return limiter.limit(
        _setting("PASSWORD_RESET_PER_ADDRESS"),
        key_func=sender_address,
        methods=["POST"],
        on_breach=too_many_attempts,
    )(view)


def link_forms(view: Callable) -> Callable:
    """A form posted from a mailed link (the new password): ``PASSWORD_RESET_PER_ADDRESS`` per
    address. Per account each link is its own limit: it works once, and only 256-bit tokens
    open it."""
    return limiter.limit(
        _setting("PASSWORD_RESET_PER_ADDRESS"),
        key_func=sender_address,
        methods=["POST"],
        on_breach=too_many_attempts,
    )(view)


def account_password_failed() -> None:
    """The account page's word that the current password given was wrong."""
    g.account_password_failed = True


def _signed_in_account() -> str:
    return "signed-in|" + str(session.get("_user_id", "-"))[:32]


def account_password_attempts(view: Callable) -> Callable:
    """Forms of /account/security that ask for the current password: ``ACCOUNT_PASSWORD_FAILURES``
    wrong ones per account, over all those forms together (a stolen session must not become a
    way to guess the password, nor get a budget per form)."""
    return attempts_limited(
        ("ACCOUNT_PASSWORD_FAILURES", _signed_in_account),
        failed=lambda response: bool(g.get("account_password_failed")),
        on_breach=too_many_attempts,
        shared="account-password",
    )(view)


def device_code_failed() -> None:
    """The device page's word that this attempt failed (a code not waiting): it stays counted."""
    g.device_code_failed = True


def _device_code_attempt_failed(response: Response) -> bool:
    return bool(g.get("device_code_failed"))


def _person_and_address() -> str:
    person = current_user.get_id() if current_user else None
    return f"{sender_address()}|{person}"


def device_code_attempts(view: Callable) -> Callable:
    """The device page's limits (RFC 8628 §5.1): wrong user codes per person and address, and
    per address over every person (generous: an office shares one address)."""
    return attempts_limited(
        ("DEVICE_CODE_FAILURES_PER_PERSON", _person_and_address),
        ("DEVICE_CODE_FAILURES_PER_ADDRESS", sender_address),
        failed=_device_code_attempt_failed,
        on_breach=too_many_attempts,
    )(view)
