"""The throttling storage's outages, made visible, and what they may not undo.

With ``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED`` Flask-Limiter counts in each process's memory when
its storage (Redis, or the database) cannot be reached, and goes back to it later. Flask-Limiter
says so only on its own logger, which nothing prints, and retries on a backoff of up to 32
seconds per process, so workers came back at different times. Here, per process:

- **Each transition is one JSON log line** (logger ``authserver.throttling``: a warning when the
  process falls back, an info line when it is back) and is counted in the metrics
  (``authserver_throttling_storage_up``, ``authserver_throttling_storage_transitions_total``).
- **Back promptly**: while fallen back, the storage is probed at most every ``RECHECK_SECONDS``
  (after a request, on that request's thread), and the process returns as soon as it answers.
- **Lockouts that started are kept**: every limit this process refused (a breach) while the
  storage was up is also filled up in the fallback's memory, for one window from that refusal.
  So after a fall back, a key this process had refused stays refused here for at least the rest
  of its window (at most one window longer than the storage would have). The bound: a process
  that had not itself refused a key starts it from zero, as Flask-Limiter does: at most one
  limit's worth per process that never refused it.
- ``state()`` says where this process counts, for ``/readyz``.

Flask-Limiter has no hook or signal for its fall back and recovery: this reads and clears its
``_storage_dead`` flag and fills its ``_fallback_limiter``, the one place it keeps each
(``tests/operations/test_throttling_outage.py`` fails if a release moves them).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask
from flask_limiter import Limiter, RequestLimit

from . import metrics

#: Seconds between probes of a storage this process fell back from.
RECHECK_SECONDS = 2.0

log = logging.getLogger("authserver.throttling")


@dataclass
class _State:
    fallen_back: bool = False
    since: float | None = None
    probed_at: float = 0.0


_state = _State()
_lock = threading.Lock()


def _fallen_back(limiter: object) -> bool:
    # Flask-Limiter's own flag (no public accessor): True while it counts in memory.
    return bool(getattr(limiter, "_storage_dead", False))


def remember_breach(request_limit: RequestLimit) -> None:
    """Flask-Limiter's ``on_breach`` for every limit: a limit refused on the storage is filled up
    in the fallback's memory as well, so an outage that follows hands out no fresh allowance
    (see the module's docstring). Returns nothing: the limit's own answer stands."""
    limiter = request_limit.extension
    fallback = getattr(limiter, "_fallback_limiter", None)
    if fallback is None or _fallen_back(limiter):
        return
    try:
        fallback.hit(
            request_limit.limit, *request_limit.request_args, cost=request_limit.limit.amount
        )
    except Exception:  # memory only: never fails a request
        log.exception("could not keep a lockout for the throttling fallback")


def observe(limiter: Limiter, app: Flask) -> None:
    """After each request: log and count a transition, and probe a storage fallen back from."""
    fallen = _fallen_back(limiter)
    if not fallen and not _state.fallen_back:
        return  # the usual case: no lock, no clock
    now = time.time()
    if fallen and now - _state.probed_at >= RECHECK_SECONDS:
        _state.probed_at = now
        try:
            back = bool(limiter.storage.check())
        except Exception:
            back = False
        if back:
            limiter._storage_dead = False  # see the docstring: no public way
            fallen = False
    with _lock:
        if fallen == _state.fallen_back:
            return
        _state.fallen_back = fallen
        since, _state.since = _state.since, (now if fallen else None)
        _state.probed_at = now
    uri = str(app.config.get("RATELIMIT_STORAGE_URI", "")).split("@")[-1]
    if fallen:
        log.warning(
            "throttling storage unreachable: counting in this process's memory until it is back",
            extra={"fields": {"storage": uri, "throttling": "memory"}},
        )
    else:
        down = round(now - since, 1) if since is not None else None
        log.info(
            "throttling storage reachable again: counting there",
            extra={"fields": {"storage": uri, "throttling": "storage", "down_seconds": down}},
        )
    metrics.throttling_storage(up=not fallen)


def state() -> dict[str, str] | None:
    """None while this process counts in the storage; else what ``/readyz`` says of it."""
    with _lock:
        if not _state.fallen_back:
            return None
        since = _state.since
    seconds = int(time.time() - since) if since is not None else 0
    return {
        "throttling": "degraded: storage unreachable, counting in this process's memory "
        f"for {seconds} s"
    }


def init_storage_watch(app: Flask, limiter: Limiter) -> None:
    @app.teardown_request
    def _watch(error: BaseException | None) -> None:
        observe(limiter, app)
