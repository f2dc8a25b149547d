"""Builders for the QA tests: annotations in bulk and a simulated crowd with known truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.contrib.auth import get_user_model

from labelhub.projects.models import Annotation, Item, Project, ProjectMembership
from tests import factories


def label(item: Item, annotator, labels: list[str], **fields) -> Annotation:
    return Annotation.objects.create(item=item, annotator=annotator, labels=labels, **fields)


@dataclass
class Crowd:
    project: Project
    items: list[Item]
    annotators: list
    bad: list
    truth: dict[int, str]  # item id -> true class


def simulate_crowd(
    *,
    n_items: int = 300,
    n_annotators: int = 8,
    classes: tuple[str, ...] = ("ant", "bee", "cow", "doe", "elk"),
    per_item: int = 3,
    bad_indices: tuple[int, ...] = (6, 7),
    seed: int = 7,
    write: bool = True,
    accuracy: Sequence[float] | None = None,
    **project_fields,
) -> Crowd:
    """Good annotators are right 75–92% of the time (else a random other class); bad ones guess.

    ``accuracy`` instead gives every annotator's own rate, bad ones included (``bad_indices``
    then only names who should be flagged). Each item gets ``per_item`` distinct annotators
    drawn at random. With ``write=False`` the annotations are returned unsaved (for tests that
    submit them one by one).
    """
    rng = np.random.default_rng(seed)
    project = factories.make_project(classes=classes, **project_fields)
    items = factories.make_items(project, n_items)
    # Plain users without password hashing: eight PBKDF2 hashes would dominate the test's time.
    annotators = get_user_model().objects.bulk_create(
        get_user_model()(username=f"crowd{project.pk}-{i}") for i in range(n_annotators)
    )
    ProjectMembership.objects.bulk_create(ProjectMembership(project=project, user=u) for u in annotators)
    guessing = set(bad_indices) if accuracy is None else set()
    accuracy = np.linspace(0.75, 0.92, n_annotators) if accuracy is None else np.asarray(accuracy)
    truth = {item.pk: classes[int(rng.integers(len(classes)))] for item in items}
    rows = []
    for item in items:
        for who in rng.choice(n_annotators, size=per_item, replace=False):
            true = truth[item.pk]
            if who in guessing:
                answer = classes[int(rng.integers(len(classes)))]
            elif rng.random() < accuracy[who]:
                answer = true
            else:
                answer = rng.choice([c for c in classes if c != true])
            rows.append(
                Annotation(
                    item=item,
                    annotator=annotators[who],
                    labels=[str(answer)],
                    time_spent=float(rng.uniform(2, 9)),
                )
            )
    if write:
        Annotation.objects.bulk_create(rows)
    crowd = Crowd(project, items, annotators, [annotators[i] for i in bad_indices], truth)
    crowd.pending = rows  # type: ignore[attr-defined]
    return crowd
