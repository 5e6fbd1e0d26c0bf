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

The outbox (``AUTHSERVER_OUTBOX_INTERVAL``, on by default) runs the same way in a thread of its
own, without a claimed window: every worker looks every interval (with jitter), and the rows
themselves are claimed (``services/outbox.claim_due``), so several workers and nodes share the
sending and each message goes once. Each run counts what it sent, what failed and what was
given up (``metrics.outbox_delivered``).
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask

from . import mail, metrics
from .ratelimit import claim_window
from .services import cleanup, outbox

log = logging.getLogger("authserver.cleanup")
db_log = logging.getLogger("authserver.outbox")

#: Each wait is the interval times a random factor in this range.
JITTER = (0.75, 1.25)
_EXTENSION = "authserver.scheduled_cleanup"
_OUTBOX_EXTENSION = "authserver.scheduled_outbox"


@dataclass
class CleanupSchedule:
    """This app's cleanup thread, and the process it belongs to."""

    interval: float
    name: str = "authserver-cleanup"
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


def init_outbox_schedule(app: Flask) -> None:
    """With ``OUTBOX_INTERVAL`` set (the default), deliver the outbox from each process."""
    interval = app.config.get("OUTBOX_INTERVAL")
    if interval is None:
        return
    schedule = app.extensions[_OUTBOX_EXTENSION] = CleanupSchedule(
        float(interval), name="authserver-outbox"
    )

    @app.before_request
    def _start_outbox_in_this_process() -> None:
        if schedule.pid != os.getpid():
            start(app, schedule, _outbox_loop)


def schedule_of(app: Flask) -> CleanupSchedule | None:
    return app.extensions.get(_EXTENSION)


def outbox_schedule_of(app: Flask) -> CleanupSchedule | None:
    return app.extensions.get(_OUTBOX_EXTENSION)


def start(app: Flask, schedule: CleanupSchedule, loop: Callable | None = None) -> None:
    with schedule.lock:
        if schedule.running:
            return
        schedule.stopping = threading.Event()
        schedule.thread = threading.Thread(
            target=loop or _loop,
            args=(app, schedule.interval, schedule.stopping),
            name=schedule.name,
            daemon=True,
        )
        schedule.pid = os.getpid()
        schedule.thread.start()


def stop(app: Flask, timeout: float = 10) -> None:
    """End this process's threads (tests; the daemon threads otherwise die with it)."""
    for schedule in (schedule_of(app), outbox_schedule_of(app)):
        if schedule is None or schedule.thread is None:
            continue
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


def _outbox_loop(app: Flask, interval: float, stopping: threading.Event) -> None:
    while not stopping.wait(interval * random.uniform(*JITTER)):  # noqa: S311 - not a secret
        deliver_outbox(app)


def deliver_outbox(app: Flask) -> outbox.DeliveryRun | None:
    """One delivery run in an app context of its own; counted, and any error logged."""
    try:
        with app.app_context():
            run = outbox.deliver_due(mail.DELIVERERS)
            metrics.outbox_delivered(run.sent, run.failed, run.gave_up)
            if run.total:
                metrics.outbox_queued(outbox.state().queued)
                db_log.info(
                    "outbox delivered %d, failed %d, gave up %d",
                    sum(run.sent.values()),
                    sum(run.failed.values()),
                    sum(run.gave_up.values()),
                    extra={"fields": {"pid": os.getpid()}},
                )
            return run
    except Exception:
        db_log.exception("outbox delivery failed; trying again at the next interval")
        return None
