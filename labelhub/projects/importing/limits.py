"""What an imported record may hold: bounded nesting and size, and only values every store accepts.

PostgreSQL's ``jsonb`` refuses ``\\u0000`` and ``NaN``/``Infinity``, UTF-8 has no lone surrogates,
and a 5,000-digit integer is refused by Python's own ``int`` parser: each would otherwise fail deep
in the database or the encoder with a 500. :func:`check_record` finds them first and names the
field. The readers enforce :class:`ImportLimits` while streaming (a line, a CSV record or a Label
Studio task is refused once it passes ``max_item_bytes``), so memory stays bounded by the limits,
not by the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from labelhub.projects.importing.errors import RecordError

#: Integers must fit in 64 bits (what a database ``bigint`` and most JSON readers hold exactly).
INT_LIMIT = 2**63
#: Digits a JSON integer may have before it is even converted (``2**63`` has 19).
MAX_INT_DIGITS = 20


@dataclass(frozen=True)
class ImportLimits:
    """How deep and how big one record may be; from settings unless a caller passes its own."""

    max_depth: int
    max_item_bytes: int

    @classmethod
    def from_settings(cls) -> ImportLimits:
        return cls(
            max_depth=settings.LABELHUB_IMPORT_MAX_DEPTH,
            max_item_bytes=settings.LABELHUB_IMPORT_MAX_ITEM_BYTES,
        )


class OversizedInteger:
    """An integer literal too long to convert, kept so :func:`check_record` can name its field."""

    __slots__ = ("digits",)

    def __init__(self, literal: str):
        self.digits = len(literal.lstrip("-"))


def parse_int(literal: str) -> int | OversizedInteger:
    """``json``'s ``parse_int`` hook: refuses to convert a huge literal (quadratic, then a ValueError)."""
    if len(literal) > MAX_INT_DIGITS:
        return OversizedInteger(literal)
    return int(literal)


def too_deep(max_depth: int, field: str | None = "json") -> RecordError:
    return RecordError(
        f"nested deeper than {max_depth} levels (LABELHUB_IMPORT_MAX_DEPTH)", field=field, code="too_deep"
    )


def too_large(max_bytes: int, what: str = "record") -> RecordError:
    return RecordError(
        f"{what} larger than {max_bytes} bytes (LABELHUB_IMPORT_MAX_ITEM_BYTES)",
        field="json" if what == "record" else what,
        code="too_large",
    )


def _field(path: tuple) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "json"


def _check_text(text: str, path: tuple, what: str = "") -> None:
    if "\x00" in text:
        raise RecordError(
            f"{what}contains a NUL character (\\u0000), which cannot be stored",
            field=_field(path),
            code="invalid_character",
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RecordError(
                f"{what}contains a lone surrogate ({text[exc.start]!r}), which is not valid Unicode",
                field=_field(path),
                code="invalid_character",
            ) from None


def check_record(record: Any, max_depth: int) -> None:
    """Raise :class:`RecordError` naming the first field that nests too deep or holds a bad value.

    The record itself is level 1 (``{"text": …}`` has depth 1, ``{"meta": {"a": 1}}`` depth 2).
    Walked with an explicit stack: a record built by code may nest deeper than Python recursion.
    """
    stack: list[tuple[Any, tuple, int]] = [(record, (), 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value, path)
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise too_deep(max_depth, _field(path))
            if isinstance(value, dict):
                for key, child in value.items():
                    if isinstance(key, str):
                        _check_text(key, (*path, key), what="a key that ")
                    stack.append((child, (*path, key), depth + 1))
            else:
                stack.extend((child, (*path, index), depth + 1) for index, child in enumerate(value))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise RecordError(
                    f"must be a finite number, got {value!r} (JSON has no NaN or Infinity)",
                    field=_field(path),
                    code="invalid_number",
                )
        elif isinstance(value, OversizedInteger) or (
            isinstance(value, int) and not isinstance(value, bool) and not -INT_LIMIT <= value < INT_LIMIT
        ):
            raise RecordError(
                "integer out of range: at most 64 bits (19 digits); quote bigger numbers as strings",
                field=_field(path),
                code="invalid_number",
            )
