"""The QA app's errors: each a :class:`~labelhub.errors.DomainError` the API handler shapes."""

from __future__ import annotations

from labelhub.errors import DomainError, Forbidden, NotFound


class QAError(DomainError):
    """A QA request a manager or reviewer caused (a bad gold answer, a task already resolved)."""

    default_code = "qa_invalid"


class ItemNotInProject(QAError):
    default_code = "item_not_in_project"


class AlreadyResolved(QAError):
    """An adjudication task or an annotator flag that was closed before."""

    default_code = "already_resolved"


class NotGold(NotFound):
    default_code = "not_gold"


class NotReviewer(Forbidden):
    default_code = "not_reviewer"
