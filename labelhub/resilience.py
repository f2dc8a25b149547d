"""A request whose database connection died under it is run again once, on a fresh connection.

With ``CONN_HEALTH_CHECKS`` a connection the database dropped while idle is replaced before a
request uses it; one dropped *during* a request (a failover, ``pg_terminate_backend``, a restart)
still fails that request. Its transaction never committed — PostgreSQL rolls back what a lost
session had not committed — so running the request again is what the client would do, only sooner.
The one ambiguous moment is a connection lost between COMMIT and its answer: the rerun then meets
its own committed work (a submit of a lease already completed answers 4xx, never a duplicate), which
is no worse than the client retrying itself.

:class:`RetryOnLostConnection` wraps the WSGI application; ``got_request_exception`` tells it which
500s were a lost connection. Bodies above ``MAX_REPLAY_BYTES`` (file uploads) are not replayed.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterable

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

#: The environ key a failed request is marked with when its database connection was lost.
LOST_CONNECTION = "labelhub.lost_db_connection"
#: Requests with a larger body are not buffered for a replay (uploads go through once).
MAX_REPLAY_BYTES = 1 << 20
_LOST_MESSAGES = (
    "terminating connection",
    "server closed the connection",
    "connection already closed",
    "the connection is closed",
    "connection is lost",
    "consuming input failed",
)


def is_lost_connection(error: BaseException | None) -> bool:
    """Whether ``error`` says the database connection went away (not a bad query or a lock)."""
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    text = str(error).lower()
    return isinstance(error, InterfaceError) or any(message in text for message in _LOST_MESSAGES)


def mark_lost_connection(sender, request=None, **kwargs) -> None:
    """``got_request_exception`` receiver: flag the request when the error was a lost connection."""
    if request is not None and is_lost_connection(sys.exc_info()[1]):
        request.META[LOST_CONNECTION] = True


got_request_exception.connect(mark_lost_connection, dispatch_uid="labelhub.resilience.mark_lost_connection")


class RetryOnLostConnection:
    """WSGI middleware: a 500 caused by a lost database connection is answered by one rerun."""

    def __init__(self, application: Callable):
        self.application = application

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_REPLAY_BYTES:
            return self.application(environ, start_response)
        body = environ["wsgi.input"].read(length) if length else b""
        for attempt in (1, 2):
            attempt_environ = dict(environ, **{"wsgi.input": io.BytesIO(body)})
            started: list[tuple] = []

            def capture(status, headers, exc_info=None, _started=started):
                _started.append((status, headers, exc_info))
                return lambda data: None  # Django never writes through start_response's callable

            result = self.application(attempt_environ, capture)
            status = started[0][0] if started else ""
            if attempt == 1 and status.startswith("500") and attempt_environ.get(LOST_CONNECTION):
                if hasattr(result, "close"):
                    result.close()
                connections.close_all()
                logger.warning(
                    "database connection lost during %s; running it again", environ.get("PATH_INFO")
                )
                continue
            start_response(*started[0])
            return result
        raise AssertionError("unreachable")  # pragma: no cover
