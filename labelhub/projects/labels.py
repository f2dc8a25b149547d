"""The one rule for what a valid label is: :class:`LabelSchema` and :func:`clean_labels`.

Every path that accepts labels — a submit, a gold answer, an adjudication, an import, the API's
serializers, the admin — reads the project's schema once (:func:`label_schema`) and passes each
raw value through :func:`clean_labels`. The canonical form of an item's labels is:

- a **list of class names** of the project (a bare string is refused here; the Label Studio
  reader, whose format allows one, wraps it before calling);
- **no duplicates** (a class named twice is a client mistake, refused rather than merged);
- **never empty** (no class chosen is a skip, not a label);
- **exactly one** class on a single-label project, one or more on a multi-label one;
- **in schema order** (the project's class order), whatever order the caller gave, so two
  annotators who chose the same set of classes stored the same list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from labelhub.errors import DomainError


class InvalidLabels(DomainError):
    """Labels that break the schema; ``field`` names where they were given."""

    default_code = "invalid_label"


@dataclass(frozen=True)
class LabelSchema:
    """A project's classes as one immutable value: names in schema order, keys, multi-label flag."""

    project_name: str
    class_names: tuple[str, ...]
    keys: tuple[str, ...] = ()
    multi_label: bool = False

    @classmethod
    def build(
        cls, project_name: str, classes: Iterable[tuple[str, str]], *, multi_label: bool
    ) -> LabelSchema:
        """From ``(name, key)`` pairs in schema order."""
        pairs = list(classes)
        return cls(
            project_name=project_name,
            class_names=tuple(name for name, _ in pairs),
            keys=tuple(key for _, key in pairs),
            multi_label=multi_label,
        )

    def __contains__(self, name: object) -> bool:
        return name in self._positions

    @property
    def _positions(self) -> dict[str, int]:
        # Cached on the frozen instance by hand: dataclass(frozen) forbids plain assignment.
        positions = self.__dict__.get("_positions_cache")
        if positions is None:
            positions = {name: index for index, name in enumerate(self.class_names)}
            object.__setattr__(self, "_positions_cache", positions)
        return positions

    def position(self, name: str) -> int:
        return self._positions[name]


def clean_labels(schema: LabelSchema, raw: Any, *, field: str = "labels") -> list[str]:
    """``raw`` in the canonical form above, or :class:`InvalidLabels` naming ``field`` and the value."""
    if not isinstance(raw, list | tuple) or not all(isinstance(name, str) for name in raw):
        raise InvalidLabels(f"must be a list of class names, got {raw!r}.", field=field)
    unknown = [name for name in raw if name not in schema]
    if unknown:
        raise InvalidLabels(
            f"Label {unknown[0]!r} is not in the schema of project {schema.project_name!r} "
            f"(classes: {', '.join(schema.class_names)}).",
            field=field,
            code="unknown_label",
        )
    if len(set(raw)) != len(raw):
        duplicate = next(name for name in raw if list(raw).count(name) > 1)
        raise InvalidLabels(f"lists the class {duplicate!r} twice.", field=field, code="duplicate_label")
    if not raw:
        raise InvalidLabels("Give at least one label.", field=field, code="wrong_label_count")
    if not schema.multi_label and len(raw) != 1:
        raise InvalidLabels(
            f"Project {schema.project_name!r} is single-label: give exactly one label, got {len(raw)}.",
            field=field,
            code="wrong_label_count",
        )
    return sorted(raw, key=schema.position)
