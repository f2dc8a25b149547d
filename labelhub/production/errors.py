"""What can go wrong in the production inbox: every one a :class:`~labelhub.errors.DomainError`."""

from __future__ import annotations

from labelhub.errors import DomainError


class ProductionError(DomainError):
    default_code = "invalid_production_request"


class CaptureRejected(DomainError):
    """A batch with a bad record: nothing of it is written; ``errors`` names ``records[i].field``."""

    default_code = "capture_rejected"

    def __init__(self, errors: list[dict]):
        first = errors[0]
        super().__init__(
            f"batch rejected with {len(errors)} bad record(s); first: {first['field']}: {first['detail']}",
            field=first["field"],
            errors=errors,
        )


class InvalidDeployment(ProductionError):
    default_code = "invalid_deployment"


class InvalidRules(ProductionError):
    default_code = "invalid_rules"
