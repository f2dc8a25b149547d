"""Cross-app reactions to the annotation flow (QA scoring, active-learning triggers).

``annotation_submitted`` is sent after the submitting transaction commits, with
``annotation`` (the new Annotation) and ``project``.
"""

from django.dispatch import Signal

annotation_submitted = Signal()
