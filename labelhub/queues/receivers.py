"""The queues' answers to signals of the layers below them."""

from __future__ import annotations

from labelhub.projects.models import Item
from labelhub.queues.models import QueueEntry
from labelhub.queues.services import release_leases_of_paused
from labelhub.queues.services.filling import forget_exhausted


def item_still_queued(sender, *, item: Item, **kwargs) -> bool:
    """QA's ``item_collecting_labels``: an open entry means more overlap copies are coming."""
    return QueueEntry.objects.filter(item=item, is_open=True).exists()


def release_paused_annotators_leases(sender, *, project_id: int, user_id: int, **kwargs) -> None:
    """QA's ``annotator_paused``: the leases the member holds go back to the queue."""
    release_leases_of_paused(project_id, user_id)


def items_imported(sender, *, project_id: int, **kwargs) -> None:
    """The projects' ``items_imported``: new items to fill from, so the project is not exhausted."""
    forget_exhausted(project_id)
