"""Signals of the QA layer, for the apps above it to connect in their ``AppConfig.ready``.

``item_collecting_labels`` is asked, with ``item``, before a dispute found on submit goes to
adjudication: a receiver returns ``True`` while more labels of that item are on the way (the
queues app: the item still has an open queue entry), and the dispute waits for them, since the
next overlap label may settle it. With no receiver, or every receiver answering falsy, the
dispute goes to adjudication at once.

``annotator_paused`` is sent, with ``project_id`` and ``user_id``, after a QA policy's pause of
that member committed (``transaction.on_commit``): the queues app releases the leases the member
still holds, so a pause takes effect on the items already handed out, not only on the next ones.
Receivers must be idempotent: a member paused again (a second failed check) is announced again.

``adjudication_resolved`` is sent, with ``task`` and ``outcome`` (``"labelled"`` or
``"ambiguous"``), inside the transaction that closed an adjudication task: the label-noise review
above records what the reviewer decided on a suspected label error (and turns an ambiguous one into
a guideline question) in the same transaction, so the two never disagree.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

from labelhub.projects.models import Item, ProjectMembership

item_collecting_labels = Signal()
annotator_paused = Signal()
adjudication_resolved = Signal()


def still_collecting(item: Item) -> bool:
    """Whether any receiver says more labels of ``item`` are coming."""
    return any(answer for _, answer in item_collecting_labels.send(sender=Item, item=item))


def announce_pause(project_id: int, user_id: int) -> None:
    """Send :data:`annotator_paused` once the current transaction commits (at once outside one)."""
    transaction.on_commit(
        lambda: annotator_paused.send(sender=ProjectMembership, project_id=project_id, user_id=user_id)
    )
