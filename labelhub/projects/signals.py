"""Signals about annotations and imports, heard by apps above the core domain (QA, active
learning, queues) without the core importing them.

``annotation_submitted`` is sent with ``annotation`` (the new Annotation) and ``project`` when
the submit's reactions are delivered (see :mod:`labelhub.queues.reactions`): after the submit
committed, inside a transaction of its own that a failing receiver rolls back whole.

``annotation_retracted`` is sent after an undo commits, with ``annotation``, ``project`` and
``counted``: whether ``annotation_submitted`` had already been delivered for it (when not, its
reactions were withdrawn and there is nothing to take back out of running counters).

``items_imported`` is sent by the importer after an import that added items committed, with
``project_id`` and ``batch_id`` (sender: ``ImportBatch``); the queues app forgets that the
project had nothing left to fill from (``labelhub.queues.models.QueueState``).
"""

from django.dispatch import Signal

annotation_submitted = Signal()
annotation_retracted = Signal()

items_imported = Signal()
