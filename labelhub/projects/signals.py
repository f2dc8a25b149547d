"""Signals about annotations, sent by the queues and heard by QA and active learning (apps above
the core domain hear about annotations without the core importing them).

``annotation_submitted`` is sent with ``annotation`` (the new Annotation) and ``project`` when
the submit's reactions are delivered (see :mod:`labelhub.queues.reactions`): after the submit
committed, inside a transaction of its own that a failing receiver rolls back whole.

``annotation_retracted`` is sent after an undo commits, with ``annotation``, ``project`` and
``counted``: whether ``annotation_submitted`` had already been delivered for it (when not, its
reactions were withdrawn and there is nothing to take back out of running counters).
"""

from django.dispatch import Signal

annotation_submitted = Signal()
annotation_retracted = Signal()

#: Sent by the importer with ``project_id`` after an import's items committed: the queues forget
#: that the project had nothing left to fill from (:class:`labelhub.queues.models.QueueState`).
items_imported = Signal()
