"""Announcements on the Channels layer: one group per project, joined by open annotation pages.

In the lowest layer so that every app that changes what a page shows (queues, guidelines, active
learning) can announce it without importing the queues."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def project_group(project_id: int) -> str:
    return f"project-{project_id}"


def announce_queue_update(project_id: int, **details) -> None:
    """Tell open pages of a project that its queue changed (refilled, re-prioritised, expired).

    Best effort: announcements go out after the change committed, so a channel layer that is down
    (Redis unreachable) must not turn a request that succeeded into a 500. Pages catch up on their
    next call or reconnect; the failure is logged.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(project_group(project_id), {"type": "queue.updated", **details})
    except Exception:  # any transport failure: the change itself is already committed
        logger.warning("could not announce a queue update of project %s", project_id, exc_info=True)
