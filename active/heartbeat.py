"""A running round's pulse: its attempt beats ``heartbeat_at`` from a background thread.

Beats at stage and chunk boundaries alone leave a long stage (a large fit, a slow chunk on CPU)
looking dead, and a dead worker looking alive for as long as the longest stage; a thread that beats
every :data:`HEARTBEAT_EVERY` lets the sweeper (``active.jobs``) call a round dead after a fixed,
short silence instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from django.db import connections
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from active.models import ModelRound

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = timedelta(seconds=10)


def beat_round(round_id: int, attempt: int) -> bool:
    """Touch ``heartbeat_at`` of the round while ``attempt`` still runs it; False once it does not.

    The attempt number guards against a worker the sweeper gave up on: it must not keep the next
    attempt's round looking alive.
    """
    return bool(
        ModelRound.objects.filter(pk=round_id, state=ModelRound.State.RUNNING, attempts=attempt).update(
            heartbeat_at=timezone.now()
        )
    )


class Periodic:
    """Calls ``action()`` every ``every`` from a daemon thread while the ``with`` block runs.

    The thread has database connections of its own, closed when it stops. A failing call is logged
    and tried again at the next tick: a heartbeat or a sweep that misses once (a dropped connection,
    a busy database) must not end the round or the worker that runs it.
    """

    def __init__(self, every: timedelta, action: Callable[[], object], *, name: str):
        self.every = every.total_seconds()
        self.action = action
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Periodic:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(self.every, 5.0))

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    self.action()
                except Exception:  # noqa: BLE001 - see the class docstring; the next tick retries
                    logger.exception("%s failed; trying again in %.0f s", self.name, self.every)
                    connections.close_all()  # the next call reconnects
        finally:
            connections.close_all()


def heartbeat(round_id: int, attempt: int) -> Periodic:
    """The background heartbeat of one attempt at a round, every :data:`HEARTBEAT_EVERY` (a context manager)."""
    return Periodic(
        HEARTBEAT_EVERY, lambda: beat_round(round_id, attempt), name=f"heartbeat-round-{round_id}"
    )


def close_dead_task_rows(task_ids: list, error: type[Exception], reason: str) -> int:
    """Mark running task rows of a dead worker failed with ``error``: django-tasks-db would leave
    them "running" forever. Rows that finished meanwhile are left alone."""
    if not task_ids:
        return 0
    return DBTaskResult.objects.filter(pk__in=task_ids, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.FAILED,
        finished_at=timezone.now(),
        return_value=None,
        exception_class_path=f"{error.__module__}.{error.__qualname__}",
        traceback=f"{error.__qualname__}: {reason}\n",
    )
