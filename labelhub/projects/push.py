"""Announcements on the Channels layer: one group per project, joined by open annotation pages.

In the lowest layer so that every app that changes what a page shows (queues, guidelines, active
learning) can announce it without importing the queues."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def project_group(project_id: int) -> str:
    return f"project-{project_id}"


def announce_queue_update(project_id: int, **details) -> None:
    """Tell open pages of a project that its queue changed (refilled, re-prioritised, expired)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(project_group(project_id), {"type": "queue.updated", **details})
