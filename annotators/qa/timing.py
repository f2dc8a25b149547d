"""What an annotation's ``time_spent`` counts for in QA figures (counters, the dashboard's speed).

Submits bound ``time_spent`` at input, but rows stored before that bound, imported ones and ones
written by hand can hold anything a float column holds: ``1e308`` once overflowed a running
counter, which failed that annotation's reactions for good and answered 500 on the dashboard.
QA never trusts the stored value: it counts a finite, non-negative time clamped to one day, and
nothing for the rest, so one bad row can move a figure by at most a day, never break it.
"""

from __future__ import annotations

import math

MAX_COUNTED_SECONDS = 24 * 60 * 60.0  # the submit bound: nobody spends more than a day on one item


def counted_seconds(time_spent: object) -> float:
    """``time_spent`` as QA counts it: 0 for missing, non-finite or negative; at most one day."""
    try:
        seconds = float(time_spent or 0)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(seconds) or seconds < 0:
        return 0.0
    return min(seconds, MAX_COUNTED_SECONDS)


def finite_or_none(value: float | None) -> float | None:
    """A figure fit for JSON: ``None`` instead of NaN or ±infinity."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def counted_seconds_sql(column: str) -> str:
    """:func:`counted_seconds` as a PostgreSQL expression over a float ``column``, for aggregates.

    PostgreSQL orders NaN above every number, ``Infinity`` included, so ``< 'Infinity'`` leaves
    out NaN and both infinities' positive side; NULL and negatives fall to the ``ELSE``.
    """
    return (
        f"CASE WHEN {column} >= 0 AND {column} < 'Infinity'::float8 "
        f"THEN LEAST({column}, {MAX_COUNTED_SECONDS}) ELSE 0 END"
    )
