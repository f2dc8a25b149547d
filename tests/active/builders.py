"""Builders for active-learning tests: the digits data set as a project, and an in-process worker."""

from __future__ import annotations

import hashlib

import numpy as np
from django_tasks import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from labelhub.projects.models import Annotation, GroundTruth, Item, LabelClass
from tests import factories


def digit_data_url(pixels: np.ndarray) -> str:
    """An 8×8 sklearn digit as the demo importer stores it (PNG data URL, dark ink on white, upscaled)."""
    from labelhub.projects.datasets import digit_png_data_url

    return digit_png_data_url(pixels)


def make_digits_project(limit: int | None = None, **fields):
    """A project holding sklearn's digits as PNG items with their ground truth; returns (project, items, y)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, y = digits.data, digits.target
    if limit is not None:
        X, y = X[:limit], y[:limit]
    project = factories.make_project(classes=(), modality="image", **fields)
    # Keys are the digits themselves (the shared factory numbers keys from 1, which stops at 9).
    LabelClass.objects.bulk_create(
        LabelClass(project=project, name=str(d), key=str(d), order=d) for d in range(10)
    )
    items = []
    for i, pixels in enumerate(X):
        payload = {"image": digit_data_url(pixels)}
        digest = hashlib.sha256(payload["image"].encode()).hexdigest()
        items.append(Item(project=project, external_id=f"digit-{i}", payload=payload, content_hash=digest))
    items = Item.objects.bulk_create(items)
    GroundTruth.objects.bulk_create(
        GroundTruth(item=item, labels=[str(int(t))]) for item, t in zip(items, y, strict=True)
    )
    return project, items, y


def label_items(items, labels, annotator=None) -> list[Annotation]:
    return Annotation.objects.bulk_create(
        Annotation(item=item, annotator=annotator, labels=[str(label)])
        for item, label in zip(items, labels, strict=True)
    )


def run_queued_tasks(*, include_delayed: bool = False, limit: int = 10) -> int:
    """Run queued tasks in this process the way ``manage.py db_worker`` does (claim, then ``run_task``).

    The worker's own loop also closes database connections between tasks, which would end a test's
    transaction; its per-task code is what matters here. ``include_delayed`` runs retries scheduled
    for later as if their time had come.
    """
    worker = Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="pytest",
        excluded_queue_names=[],
    )
    ran = 0
    while ran < limit:
        ready = (
            DBTaskResult.objects.filter(status=TaskResultStatus.READY)
            if include_delayed
            else DBTaskResult.objects.ready()
        )
        task_result = ready.order_by("enqueued_at").first()
        if task_result is None:
            break
        task_result.claim("pytest")
        worker.run_task(task_result)
        ran += 1
    return ran
