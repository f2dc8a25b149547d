"""The demo's simulated production stream: a model trained on some digits meets all of them.

:func:`demo_deployment` gives the demo's digits project what a real team would have: some items
labelled (from the data set's ground truth, marked as imported, of digits 0–6 only), a snapshot
of them, a model run on it (a nearest-centroid classifier on the pixel features, with its test
accuracy) and a deployment. :func:`stream` then sends windows of held-out digits — redrawn with a
little pixel noise, so they are new inputs rather than copies of pool items — through the capture
API: first digits the model knows, then, after ``drift_after`` windows, all ten, including the
three it never saw. The production page then shows the drift being caught.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from active.embeddings import decode_image, pixel_features
from labelhub.production import services
from labelhub.production.models import Deployment
from labelhub.projects.datasets import digit_png_data_url
from labelhub.projects.models import Annotation, GroundTruth, Item, Project
from labelhub.snapshots.models import Snapshot, SnapshotItem
from labelhub.snapshots.services import cut_snapshot, register_model_run

logger = logging.getLogger(__name__)

DEPLOYMENT_NAME = "demo stream"
KNOWN_CLASSES = tuple(str(d) for d in range(7))
TRAINING_ITEMS = 300


@dataclass
class CentroidModel:
    """Nearest centroid on pixel features: the "deployed model" of the demo."""

    classes: list[str]
    centroids: np.ndarray
    schema: list[str]

    def predict(self, features: np.ndarray) -> tuple[list[str], np.ndarray]:
        distances = ((features[:, None, :] - self.centroids[None]) ** 2).sum(axis=2)
        logits = -distances / 2.0
        probabilities = np.zeros((len(features), len(self.schema)))
        known = np.exp(logits - logits.max(axis=1, keepdims=True))
        known /= known.sum(axis=1, keepdims=True)
        for column, name in enumerate(self.classes):
            probabilities[:, self.schema.index(name)] = known[:, column]
        return [self.classes[i] for i in distances.argmin(axis=1)], probabilities


def _features(payloads: list[dict]) -> np.ndarray:
    return np.stack([pixel_features(decode_image(0, p)) for p in payloads])


def demo_deployment(
    project: Project, *, training_items: int = TRAINING_ITEMS, seed: int = 0
) -> tuple[Deployment, str]:
    """The project's demo deployment and a fresh capture token (made, with its snapshot, on first use)."""
    existing = Deployment.objects.filter(project=project, name=DEPLOYMENT_NAME).first()
    if existing is not None:
        return existing, services.rotate_token(existing)
    truth = list(
        GroundTruth.objects.filter(item__project=project, item__annotations__isnull=True)
        .order_by("item_id")
        .values_list("item_id", "labels")
    )
    known = [(item_id, labels) for item_id, labels in truth if labels and labels[0] in KNOWN_CLASSES]
    rng = np.random.default_rng(seed)
    chosen = [
        known[i] for i in np.sort(rng.choice(len(known), min(training_items, len(known)), replace=False))
    ]
    with transaction.atomic():
        Annotation.objects.bulk_create(
            Annotation(item_id=item_id, labels=labels, source=Annotation.Source.IMPORT)
            for item_id, labels in chosen
        )
    # Split by external id alone: the same items train the demo's model in every install, whatever
    # the project's id (a split keyed on the project moved the model, and with it the drift windows'
    # verdicts, with the id).
    snapshot, _ = cut_snapshot(
        project, name="demo: digits 0-6 the deployed model learnt", split_key=Snapshot.SplitKey.EXTERNAL_ID
    )
    model, accuracy = train_centroids(snapshot)
    run = register_model_run(
        snapshot,
        name="demo nearest-centroid",
        metrics={"accuracy": accuracy},
        artifact_uri="demo://centroids",
    )
    return services.create_deployment(project, run, name=DEPLOYMENT_NAME)


def train_centroids(snapshot) -> tuple[CentroidModel, float]:
    """Centroids of the snapshot's train split; accuracy on its test split (the run's test accuracy)."""
    rows = list(SnapshotItem.objects.filter(snapshot=snapshot).values_list("item_id", "labels", "split"))
    payloads = dict(Item.objects.filter(pk__in=[r[0] for r in rows]).values_list("id", "payload"))
    X = _features([payloads[r[0]] for r in rows])
    y = np.array([r[1][0] for r in rows])
    train = np.array([r[2] == SnapshotItem.Split.TRAIN for r in rows])
    classes = sorted(set(y[train]))
    centroids = np.stack([X[train & (y == c)].mean(axis=0) for c in classes])
    model = CentroidModel(classes, centroids, list(snapshot.class_names))
    test = ~train
    accuracy = float((np.array(model.predict(X[test])[0]) == y[test]).mean()) if test.any() else 1.0
    return model, accuracy


def model_of(deployment: Deployment) -> CentroidModel:
    return train_centroids(deployment.model_run.snapshot)[0]


def stream(
    deployment: Deployment,
    send: Callable[[list[dict]], object],
    *,
    windows: int = 16,
    drift_after: int = 8,
    per_window: int = 200,
    pause: float = 3.0,
    window: timedelta = timedelta(hours=1),
    start: datetime | None = None,
    seed: int = 0,
    digits_limit: int | None = None,
) -> int:
    """Send ``windows`` windows of ``per_window`` captures (``send(records)``); returns the records sent.

    Capture times are simulated, one ``window`` apart, ending now, so a run of a minute fills a
    day of the production page. Digits come from the data set itself (scikit-learn); the first ``drift_after`` windows hold only the classes the model learnt.
    """
    from sklearn.datasets import load_digits  # heavy: scikit-learn only in the demo's stream

    digits = load_digits()
    model = model_of(deployment)
    rng = np.random.default_rng(seed)
    start = start or timezone.now() - window * windows
    # Only digits of the same collection the project holds (its first ``digits_limit``): the later
    # ones of the data set are other writers', itself a shift the stream must not add by accident.
    targets = digits.target[:digits_limit] if digits_limit else digits.target
    known = np.flatnonzero(np.isin(targets.astype(str), model.classes))
    sent = 0
    for w in range(windows):
        pool = known if w < drift_after else np.arange(len(targets))
        picks = rng.choice(pool, per_window, replace=True)
        payloads = [{"image": digit_png_data_url(digits.data[i])} for i in picks]
        predictions, probabilities = model.predict(_features(payloads))
        at = start + window * w
        records = [
            {
                "key": f"demo-{seed}-{w}-{i}",
                "input": payloads[i],
                "prediction": predictions[i],
                "probabilities": [round(float(v), 6) for v in probabilities[i]],
                "model_version": "demo-centroids",
                "source": "scanner",
                "timestamp": (at + window * (i / per_window)).isoformat(),
            }
            for i in range(per_window)
        ]
        send(records)
        sent += len(records)
        logger.info(
            "demo stream: window %d of %d sent%s", w + 1, windows, " (drifted)" if w >= drift_after else ""
        )
        if pause and w + 1 < windows:
            time.sleep(pause)
    return sent
