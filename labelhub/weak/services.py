"""Things that change weak supervision's state: functions and their versions, runs, weak labels."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from django.db import transaction
from django.utils import timezone

from labelhub.projects.models import Project
from labelhub.projects.selectors import label_schema
from labelhub.weak import label_model
from labelhub.weak.apply import PoolEvaluator, apply_functions
from labelhub.weak.definitions import clean_definition
from labelhub.weak.errors import InvalidLabelingFunction
from labelhub.weak.matrix import load_matrix
from labelhub.weak.models import LabelingFunction, LabelingFunctionVersion, WeakLabel, WeakRun
from labelhub.weak.stats import reference_labels

# Below this posterior, or where functions disagree, an item is "unsure": it goes to humans first.
UNSURE_BELOW = 0.7


def _check_name(project: Project, name, exclude: int | None = None) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise InvalidLabelingFunction("give a name of 1 to 100 characters.", field="name")
    name = name.strip()
    taken = LabelingFunction.objects.filter(project=project, name=name).exclude(pk=exclude)
    if taken.exists():
        raise InvalidLabelingFunction(
            f"the project already has a function named {name!r}.", field="name", code="unique"
        )
    return name


@transaction.atomic
def create_function(project: Project, *, name, kind, label="", config=None, user=None) -> LabelingFunction:
    """Validate and create a function at version 1 (recorded in its history)."""
    name = _check_name(project, name)
    label, config = clean_definition(kind, label, config if config is not None else {}, label_schema(project))
    _check_examples(project, kind, config)
    function = LabelingFunction.objects.create(
        project=project, name=name, kind=kind, label=label, config=config, created_by=user
    )
    _record_version(function, user)
    return function


@transaction.atomic
def update_function(function: LabelingFunction, *, user=None, **changes) -> LabelingFunction:
    """Apply ``changes`` (name, kind, label, config, is_active); a new definition bumps the version.

    Renaming or (de)activating keeps the version: the votes stay those of the same definition.
    """
    function = LabelingFunction.objects.select_for_update().get(pk=function.pk)
    if "name" in changes:
        function.name = _check_name(function.project, changes["name"], exclude=function.pk)
    if "is_active" in changes:
        if not isinstance(changes["is_active"], bool):
            raise InvalidLabelingFunction("must be true or false.", field="is_active")
        function.is_active = changes["is_active"]
    kind = changes.get("kind", function.kind)
    label, config = clean_definition(
        kind,
        changes.get("label", function.label),
        changes.get("config", function.config),
        label_schema(function.project),
    )
    _check_examples(function.project, kind, config)
    redefined = (kind, label, config) != (function.kind, function.label, function.config)
    function.kind, function.label, function.config = kind, label, config
    if redefined:
        function.version += 1
    function.save()
    if redefined:
        _record_version(function, user)
    return function


def _record_version(function: LabelingFunction, user) -> None:
    LabelingFunctionVersion.objects.create(
        function=function,
        version=function.version,
        kind=function.kind,
        label=function.label,
        config=function.config,
        created_by=user,
    )


def _check_examples(project: Project, kind: str, config: dict) -> None:
    if kind != LabelingFunction.Kind.SIMILAR:
        return
    known = set(project.items.filter(pk__in=config["examples"]).values_list("pk", flat=True))
    for index, example in enumerate(config["examples"]):
        if example not in known:
            raise InvalidLabelingFunction(
                f"item {example} is not in the project.",
                field=f"config.examples[{index}]",
                code="unknown_item",
            )


def start_run(project: Project, user=None) -> WeakRun:
    return WeakRun.objects.create(project=project, created_by=user)


def execute_run(
    run: WeakRun,
    *,
    method: str = label_model.DEFAULT_METHOD,
    pool_evaluators: dict[str, PoolEvaluator] | None = None,
    full: bool = False,
    beat: Callable[[], None] | None = None,
) -> WeakRun:
    """Apply the functions (incrementally), fit the label model and replace the weak labels.

    Progress goes to the run row after every batch; a failure marks the run failed and re-raises.
    """
    project = run.project
    WeakRun.objects.filter(pk=run.pk).update(status=WeakRun.Status.RUNNING, method=method)

    def progress(done: int, total: int) -> None:
        WeakRun.objects.filter(pk=run.pk).update(items_done=done, items_total=total)
        if beat is not None:
            beat()

    try:
        applied = apply_functions(project, pool_evaluators=pool_evaluators, full=full, progress=progress)
        matrix = load_matrix(project)
        anchors = anchors_of(matrix, project)
        posterior = label_model.fit(matrix, method, anchors=anchors)
        written = write_weak_labels(project, run, matrix, posterior, known=anchors[0])
    except Exception as exc:
        WeakRun.objects.filter(pk=run.pk).update(
            status=WeakRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        raise
    run.refresh_from_db()
    run.status = WeakRun.Status.DONE
    run.function_versions = matrix.versions()
    run.summary = {
        "apply": applied,
        "weak_labels": written,
        "pool": matrix.n_items,
        "coverage": round(written / matrix.n_items, 4) if matrix.n_items else 0.0,
        "conflicts": int(posterior.conflict.sum()),
        "unsure": int(((posterior.confidence < UNSURE_BELOW) | posterior.conflict).sum()),
    }
    run.finished_at = timezone.now()
    run.save()
    return run


def anchors_of(matrix, project: Project) -> label_model.Anchors:
    """The matrix positions and class codes of the gold / human-labelled items (the label model's anchors)."""
    reference = reference_labels(project, label_schema(project))
    ids = np.fromiter(reference, np.int64, len(reference))
    codes = np.fromiter(reference.values(), np.int64, len(reference))
    positions = np.minimum(np.searchsorted(matrix.item_ids, ids), max(matrix.n_items - 1, 0))
    inside = matrix.item_ids[positions] == ids if matrix.n_items else np.zeros(len(ids), bool)
    return positions[inside], codes[inside]


def write_weak_labels(project: Project, run: WeakRun, matrix, posterior, known=None) -> int:
    """Replace the project's weak labels by the posterior's, in one transaction.

    Items at the ``known`` positions (gold or human-labelled, the label model's anchors) get none:
    their weak label would only echo the human answer, and must never be shown to another
    annotator or mixed into an export.
    """
    names = matrix.class_names
    predicted = posterior.predicted
    skip = set(np.asarray(known if known is not None else [], np.int64).tolist())
    rows = []
    for index, position in enumerate(posterior.positions.tolist()):
        if position in skip:
            continue
        probabilities = posterior.probabilities[index]
        shown = np.flatnonzero(probabilities >= 0.01)
        rows.append(
            WeakLabel(
                item_id=int(matrix.item_ids[position]),
                project=project,
                run=run,
                labels=[names[int(predicted[index])]],
                confidence=round(float(probabilities[predicted[index]]), 6),
                probabilities={names[int(c)]: round(float(probabilities[c]), 4) for c in shown},
                votes=int(posterior.votes[index]),
                conflict=bool(posterior.conflict[index]),
            )
        )
    with transaction.atomic():
        WeakLabel.objects.filter(project=project).delete()
        WeakLabel.objects.bulk_create(rows, batch_size=5000)
    return len(rows)
