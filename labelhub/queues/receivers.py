"""The queues' answers to signals of the layers below them."""

from __future__ import annotations

from labelhub.projects.models import Item
from labelhub.queues.models import QueueEntry


def item_still_queued(sender, *, item: Item, **kwargs) -> bool:
    """QA's ``item_collecting_labels``: an open entry means more overlap copies are coming."""
    return QueueEntry.objects.filter(item=item, is_open=True).exists()
