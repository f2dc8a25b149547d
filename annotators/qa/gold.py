"""Gold (honeypot) items: marking known answers and scoring annotators (the queues mix them in:
:mod:`labelhub.queues.services.leasing`).

Gold answers stay on the server: the queue serves a gold item exactly like any other item (same
payload, no reason field); only QA, the queue's lease statement and managers' QA views read ``GoldItem``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest

from annotators.qa.errors import ItemNotInProject, QAError
from annotators.qa.models import AnnotatorStats, GoldItem
from annotators.qa.timing import counted_seconds
from labelhub.projects.labels import clean_labels
from labelhub.projects.models import Annotation, Item, Project
from labelhub.projects.selectors import label_schema


def mark_gold(
    project: Project,
    answers: Iterable[tuple[int, list[str]]],
    *,
    user=None,
    source: str = GoldItem.Source.MANUAL,
) -> list[GoldItem]:
    """Set the known answer of items of ``project`` (create or replace), all or nothing.

    Answers are checked with the project's label rule (schema read once for the whole batch) and
    stored in canonical form; a bad one is named by its position, ``items[i].labels`` or
    ``items[i].item_id``, as the one error shape names a field inside a list.
    """
    answers = [(int(item_id), labels) for item_id, labels in answers]
    item_ids = [item_id for item_id, _ in answers]
    found = set(Item.objects.filter(project=project, pk__in=item_ids).values_list("pk", flat=True))
    seen: set[int] = set()
    for index, item_id in enumerate(item_ids):
        if item_id not in found:
            raise ItemNotInProject(
                f"item {item_id} is not in project {project.pk}.", field=f"items[{index}].item_id"
            )
        if item_id in seen:
            raise QAError(
                f"item {item_id} is given twice.", field=f"items[{index}].item_id", code="duplicate_item"
            )
        seen.add(item_id)
    schema = label_schema(project)
    rows = [
        GoldItem(
            item_id=item_id,
            labels=clean_labels(schema, labels, field=f"items[{index}].labels"),
            source=source,
            created_by=user,
        )
        for index, (item_id, labels) in enumerate(answers)
    ]
    with transaction.atomic():
        GoldItem.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["item"],
            update_fields=["labels", "source", "created_by"],
        )
    return rows


def unmark_gold(project: Project, item_ids: Iterable[int]) -> int:
    deleted, _ = GoldItem.objects.filter(item__project=project, item_id__in=list(item_ids)).delete()
    return deleted


def is_correct(labels: Iterable[str], gold_labels: Iterable[str]) -> bool:
    """Gold is matched exactly: the same set of classes (order never matters)."""
    return set(labels) == set(gold_labels)


def wilson_interval(correct: int, seen: int, *, z: float = 1.959964) -> tuple[float, float] | None:
    """95% Wilson score interval of a proportion: honest for small counts, unlike p ± z·se."""
    if seen <= 0:
        return None
    p = correct / seen
    denominator = 1 + z * z / seen
    centre = (p + z * z / (2 * seen)) / denominator
    half = z * math.sqrt(p * (1 - p) / seen + z * z / (4 * seen * seen)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def record_submission(annotation: Annotation, project: Project) -> bool:
    """Add one submitted annotation to the annotator's running counters (gold, volume, time).

    Time is counted as :func:`~annotators.qa.timing.counted_seconds` says, so no stored value
    can overflow the counter and fail this reaction on every retry. Returns whether the item is gold (its gold counters moved).
    """
    gold = GoldItem.objects.filter(item_id=annotation.item_id).values_list("labels", flat=True).first()
    updates = {
        "annotations": F("annotations") + 1,
        "seconds_spent": F("seconds_spent") + counted_seconds(annotation.time_spent),
    }
    if gold is not None:
        updates["gold_seen"] = F("gold_seen") + 1
        if is_correct(annotation.labels, gold):
            updates["gold_correct"] = F("gold_correct") + 1
    rows = AnnotatorStats.objects.filter(project=project, annotator_id=annotation.annotator_id)
    with transaction.atomic():
        if not rows.update(**updates):  # their first label in the project: make the row first
            AnnotatorStats.objects.get_or_create(project=project, annotator_id=annotation.annotator_id)
            rows.update(**updates)
    return gold is not None


def forget_submission(annotation: Annotation, project: Project) -> None:
    """Take a retracted (undone) annotation back out of the annotator's running counters."""
    gold = GoldItem.objects.filter(item_id=annotation.item_id).values_list("labels", flat=True).first()
    updates = {
        "annotations": Greatest(F("annotations") - 1, 0),
        "seconds_spent": Greatest(F("seconds_spent") - counted_seconds(annotation.time_spent), 0.0),
    }
    if gold is not None:
        updates["gold_seen"] = Greatest(F("gold_seen") - 1, 0)
        if is_correct(annotation.labels, gold):
            updates["gold_correct"] = Greatest(F("gold_correct") - 1, 0)
    AnnotatorStats.objects.filter(project=project, annotator_id=annotation.annotator_id).update(**updates)


def rebuild_stats(project: Project) -> list[AnnotatorStats]:
    """Recount every annotator's gold and volume counters from the annotations themselves.

    The submit path only ever adds; undo (retraction) and gold answers changed afterwards are
    reconciled here, which on-demand policy evaluation calls first.
    """
    gold = dict(GoldItem.objects.filter(item__project=project).values_list("item_id", "labels"))
    totals: dict[int, dict] = {}
    rows = Annotation.objects.filter(
        item__project=project, retracted_at__isnull=True, annotator__isnull=False
    ).values_list("annotator_id", "item_id", "labels", "time_spent")
    for annotator_id, item_id, labels, time_spent in rows.iterator(chunk_size=5000):
        t = totals.setdefault(
            annotator_id, {"annotations": 0, "seconds_spent": 0.0, "gold_seen": 0, "gold_correct": 0}
        )
        t["annotations"] += 1
        t["seconds_spent"] += counted_seconds(time_spent)
        if item_id in gold:
            t["gold_seen"] += 1
            t["gold_correct"] += int(is_correct(labels, gold[item_id]))
    empty = {"annotations": 0, "seconds_spent": 0.0, "gold_seen": 0, "gold_correct": 0}
    with transaction.atomic():
        existing = {
            s.annotator_id: s for s in AnnotatorStats.objects.select_for_update().filter(project=project)
        }
        for stats in existing.values():
            for name, value in totals.get(stats.annotator_id, empty).items():
                setattr(stats, name, value)
        AnnotatorStats.objects.bulk_update(list(existing.values()), list(empty), batch_size=1000)
        AnnotatorStats.objects.bulk_create(
            [
                AnnotatorStats(project=project, annotator_id=annotator_id, **counts)
                for annotator_id, counts in totals.items()
                if annotator_id not in existing
            ]
        )
    return list(AnnotatorStats.objects.filter(project=project).select_related("annotator"))
