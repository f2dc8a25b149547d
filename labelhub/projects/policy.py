"""The rules a project's QA, queue and balance settings must follow, as model field validators.

They live on the model fields, so the API's serializers, the admin and any form check the same
thing, and a bad value is a 400 naming the field instead of a database error (``gold_rate: 2``
breaks a check constraint) or a crash much later (a balance weight ``"x"`` failed in every fill).
"""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

#: For shares and rates: between 0 and 1, both included.
SHARE = [MinValueValidator(0.0), MaxValueValidator(1.0)]


def validate_balance_target(value: Any) -> None:
    """``{}`` (no target), ``{"uniform": true}``, or ``{class name: weight}`` with finite weights >= 0."""
    if not isinstance(value, dict):
        raise ValidationError(
            'must be an object: {} for none, {"uniform": true}, or weights such as {"wolf": 1, "dog": 10}',
            code="invalid",
        )
    if "uniform" in value:
        if len(value) != 1 or not isinstance(value["uniform"], bool):
            raise ValidationError('"uniform" stands alone, as {"uniform": true}', code="invalid")
        return
    for name, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
            raise ValidationError(f"the weight of {name!r} must be a number", code="invalid")
        if weight < 0 or weight > 1e6:
            raise ValidationError(f"the weight of {name!r} must be between 0 and 1000000", code="invalid")
