"""Cleanup inside the server every ``AUTHSERVER_CLEANUP_INTERVAL`` seconds (SPEC), when set.

One daemon thread per process, started by the first request that process serves: never in
gunicorn's master (with ``--preload`` the app is made there, and a thread does not survive a
fork), always in each worker; a fork noticed later (another pid) starts a thread of its own.
Each wait is the interval with random jitter (±25 %), so the workers of several nodes drift
apart; the first of them to wake in a window of the interval claims it in the database
(``ratelimit.claim_window``) and only that one runs, so the deployment cleans up about once an
interval however many workers and nodes it has (``cleanup()`` is batched and safe to run on
every node at once anyway, should two claims ever overlap). Each run has its own app context
(its own database session), logs one line with what it removed, and any error is logged and
the thread carries on: a failed cleanup must never take a worker down.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from dataclasses import dataclass, field

from flask import Flask

from .ratelimit import claim_window
from .services import cleanup

log = logging.getLogger("authserver.cleanup")

#: Each wait is the interval times a random factor in this range.
JITTER = (0.75, 1.25)
_EXTENSION = "authserver.scheduled_cleanup"


@dataclass
class CleanupSchedule:
    """This app's cleanup thread, and the process it belongs to."""

    interval: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    pid: int | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.pid == os.getpid() and self.thread.is_alive()


def init_cleanup_schedule(app: Flask) -> None:
    """With ``CLEANUP_INTERVAL`` set, start the thread at this process's first request."""
    interval = app.config.get("CLEANUP_INTERVAL")
    if interval is None:
        return
    schedule = app.extensions[_EXTENSION] = CleanupSchedule(float(interval))

    @app.before_request
    def _start_cleanup_in_this_process() -> None:
        if schedule.pid != os.getpid():  # one comparison per request once it runs
            start(app, schedule)


def schedule_of(app: Flask) -> CleanupSchedule | None:
    return app.extensions.get(_EXTENSION)


def start(app: Flask, schedule: CleanupSchedule) -> None:
    with schedule.lock:
        if schedule.running:
            return
        schedule.stopping = threading.Event()
        schedule.thread = threading.Thread(
            target=_loop,
            args=(app, schedule.interval, schedule.stopping),
            name="authserver-cleanup",
            daemon=True,
        )
        schedule.pid = os.getpid()
        schedule.thread.start()


def stop(app: Flask, timeout: float = 10) -> None:
    """End this process's cleanup thread (tests; the daemon thread otherwise dies with it)."""
    schedule = schedule_of(app)
    if schedule is None or schedule.thread is None:
        return
    schedule.stopping.set()
    schedule.thread.join(timeout)


def _loop(app: Flask, interval: float, stopping: threading.Event) -> None:
    while not stopping.wait(interval * random.uniform(*JITTER)):  # noqa: S311 - not a secret
        run_once(app, claim_seconds=interval * JITTER[0])


def run_once(app: Flask, claim_seconds: float | None = None) -> None:
    """One cleanup in an app context of its own, unless another worker or node claimed this
    window of ``claim_seconds`` already; logs what went, or why it failed."""
    try:
        with app.app_context():
            if claim_seconds is not None and not claim_window("cleanup", claim_seconds):
                return
            removed = cleanup.cleanup()
    except Exception:
        log.exception("scheduled cleanup failed; trying again at the next interval")
        return
    log.info(
        "scheduled cleanup removed %d rows",
        removed.total,
        extra={"fields": {**removed.counts, "total": removed.total, "pid": os.getpid()}},
    )
