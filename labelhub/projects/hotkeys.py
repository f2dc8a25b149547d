"""The labeling page's own keys, which no class hotkey may take.

The page (``annotators/labeling/static/labeling/keys.js``) checks a class's key before its own
commands, so a class keyed ``s`` would silently take over Skip; ``?`` never reaches a class.
Enter and Esc are not single characters and so are never class keys. A test reads keys.js and
holds this table to it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

PAGE_KEYS = {"s": "Skip", "f": "Flag", "z": "Undo", "g": "Guidelines", "?": "Help"}


def page_key_clash(key: str) -> str | None:
    """The page command ``key`` already is (``"Skip"``), or None when the key is free."""
    return PAGE_KEYS.get((key or "").lower())


def clash_message(key: str) -> str:
    return (
        f"the key {key!r} is the labeling page's {page_key_clash(key)} key; choose another "
        f"(the page keeps {', '.join(k.upper() for k in PAGE_KEYS)}, Enter and Esc)"
    )


def validate_class_key(key: str) -> None:
    """Model-field validator of ``LabelClass.key``: refuses the page's own keys, naming them."""
    if page_key_clash(key):
        raise ValidationError(clash_message(key), code="reserved_key")
