"""Changes to the queues: filling them with prioritised entries."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from labelhub.queues.models import QueueEntry


def enqueue_items(
    project,
    prioritised: Iterable[tuple[int, float]],
    *,
    reason: str,
    batch_key: str = "",
    created_by=None,
    required_annotations: int = 1,
) -> int:
    """Put ``(item_id, priority)`` pairs at the front of the project's queue, in one transaction.

    Items with an open entry get the new priority and reason; others get a new entry. With a
    ``batch_key`` the call is idempotent: a writer retried after a crash writes nothing twice.
    Returns the number of entries created or re-prioritised.
    """
    pairs = dict(prioritised)
    with transaction.atomic():
        if batch_key and QueueEntry.objects.filter(project=project, batch_key=batch_key).exists():
            return 0
        open_entries = {
            e.item_id: e
            for e in QueueEntry.objects.select_for_update().filter(
                project=project, is_open=True, item_id__in=list(pairs)
            )
        }
        to_update = []
        for item_id, entry in open_entries.items():
            entry.priority = pairs[item_id]
            entry.reason = reason
            entry.batch_key = batch_key
            to_update.append(entry)
        QueueEntry.objects.bulk_update(to_update, ["priority", "reason", "batch_key"], batch_size=1000)
        QueueEntry.objects.bulk_create(
            [
                QueueEntry(
                    project=project,
                    item_id=item_id,
                    priority=priority,
                    reason=reason,
                    batch_key=batch_key,
                    created_by=created_by,
                    required_annotations=required_annotations,
                )
                for item_id, priority in pairs.items()
                if item_id not in open_entries
            ],
            batch_size=1000,
        )
    return len(pairs)
