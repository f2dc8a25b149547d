"""Signals of the QA layer, for the apps above it to connect in their ``AppConfig.ready``.

``item_collecting_labels`` is asked, with ``item``, before a dispute found on submit goes to
adjudication: a receiver returns ``True`` while more labels of that item are on the way (the
queues app: the item still has an open queue entry), and the dispute waits for them, since the
next overlap label may settle it. With no receiver, or every receiver answering falsy, the
dispute goes to adjudication at once.
"""

from __future__ import annotations

from django.dispatch import Signal

from labelhub.projects.models import Item

item_collecting_labels = Signal()


def still_collecting(item: Item) -> bool:
    """Whether any receiver says more labels of ``item`` are coming."""
    return any(answer for _, answer in item_collecting_labels.send(sender=Item, item=item))
