"""Drift of a deployment, per window and source, against its training snapshot; alarms when crossed.

A window is ``LABELHUB_DRIFT_WINDOW_MINUTES`` of capture time (the model's clock). Each check
writes one :class:`~labelhub.production.models.DriftWindow` row (re-checked while the window fills),
with the tests of :mod:`active.drift`. The embeddings are held against the training snapshot's
vectors; the predicted-class mix against the deployed model's own predictions on its first traffic
from the same source (up to :data:`BASELINE_CAPTURES` captures before the window): a model biased
toward a class predicts that class more often than the training labels hold it in every window,
which is no drift, so the training label mix is shown beside them but judges nothing. A
source's first window has no baseline yet; its class mix is not judged. A window that turns to alarm is announced once: over Channels
to open production pages (group ``production-<project>``) and, when the deployment has one, to its
webhook URL as JSON.
"""

from __future__ import annotations

import json
import logging
import urllib.request
import zlib
from datetime import UTC, datetime, timedelta

import numpy as np
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from active import drift
from annotators.qa.resolved import resolved_labels
from labelhub.production import scoring
from labelhub.production.consumers import production_group
from labelhub.production.models import Capture, Deployment, DriftWindow
from labelhub.projects.selectors import label_schema

logger = logging.getLogger(__name__)

PRODUCTION_LIKE_SHOWN = 10
#: Earliest captures of a source whose predicted classes make its reference class mix.
BASELINE_CAPTURES = 2000
WEBHOOK_TIMEOUT = 5


def window_length() -> timedelta:
    return timedelta(minutes=settings.LABELHUB_DRIFT_WINDOW_MINUTES)


def window_of(moment: datetime, length: timedelta) -> datetime:
    seconds = int(length.total_seconds())
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def check_windows(
    deployment: Deployment, device: str = "cpu", *, since: datetime, reference=None
) -> list[DriftWindow]:
    """Check every window (per source) from the one holding ``since`` to the latest capture."""
    length = window_length()
    scored = Capture.objects.filter(
        deployment=deployment, scored_at__isnull=False, captured_at__gte=window_of(since, length)
    )
    keys = sorted(
        {
            (source, window_of(at, length))
            for source, at in scored.values_list("source", "captured_at").iterator()
        }
    )
    if not keys:
        return []
    reference = reference or scoring.Reference.of(deployment, device)
    n_classes = len(label_schema(deployment.project).class_names)
    training_counts = np.bincount(reference.classes[reference.classes >= 0], minlength=n_classes)
    rows = []
    for source, start in keys:
        captures = list(
            scored.filter(source=source, captured_at__gte=start, captured_at__lt=start + length)
            .only("id", "predicted_class", "rule", "item_id")
            .order_by("id")
        )
        if len(captures) < drift.MIN_WINDOW:
            continue
        baseline = baseline_counts(deployment, source, start, n_classes)
        rows.append(
            check_window(
                deployment, source, start, length, captures, reference, training_counts, baseline, device
            )
        )
    return rows


def baseline_counts(
    deployment: Deployment, source: str, before: datetime, n_classes: int
) -> np.ndarray | None:
    """Predicted-class counts of the source's earliest captures before ``before``; None when too few."""
    predicted = list(
        Capture.objects.filter(deployment=deployment, source=source, captured_at__lt=before)
        .order_by("captured_at", "id")
        .values_list("predicted_class", flat=True)[:BASELINE_CAPTURES]
    )
    if len(predicted) < drift.MIN_WINDOW:
        return None
    return np.bincount(np.array(predicted, np.int64), minlength=n_classes)


def control_outcome(deployment: Deployment, captures: list[Capture]) -> tuple[int, int]:
    """``(correct, labelled)`` of the window's control-slice captures whose items have a resolved label."""
    control = {c.item_id: c for c in captures if c.rule == Capture.Rule.CONTROL and c.item_id}
    if not control:
        return 0, 0
    schema = label_schema(deployment.project)
    correct = total = 0
    for item_id, labels in resolved_labels(deployment.project, schema):
        capture = control.get(item_id)
        if capture is not None and labels:
            total += 1
            correct += int(schema.position(labels[0]) == capture.predicted_class)
    return correct, total


def check_window(
    deployment, source, start, length, captures, reference, training_counts, baseline, device
) -> DriftWindow:
    vectors = scoring.capture_vectors(deployment, captures, device)
    predicted = np.array([c.predicted_class for c in captures], np.int64)
    production_counts = np.bincount(predicted, minlength=len(training_counts))
    correct, total = control_outcome(deployment, captures)
    seed = (int(start.timestamp()) ^ zlib.crc32(source.encode())) % (2**31)
    check = drift.check_window(
        reference.vectors,
        vectors,
        baseline,
        production_counts,
        control=(correct, total),
        test_accuracy=(deployment.model_run.metrics or {}).get("accuracy"),
        seed=seed,
    )
    schema_names = label_schema(deployment.project).class_names
    fields = {
        "window_end": start + length,
        "n_production": check.n_production,
        "n_reference": check.n_reference,
        "domain_auc": check.domain.auc if check.domain else None,
        "domain_threshold": check.domain.threshold if check.domain else None,
        "domain_p": check.domain.p_value if check.domain else None,
        "mmd": check.mmd,
        "mmd_p": check.mmd_p,
        "class_mix": {
            "training": dict(zip(schema_names, training_counts.tolist(), strict=False)),
            "reference": dict(zip(schema_names, baseline.tolist(), strict=False))
            if baseline is not None
            else {},
            "production": dict(zip(schema_names, production_counts.tolist(), strict=False)),
        },
        "class_tvd": check.class_tvd,
        "class_p": check.class_p,
        "control_total": total,
        "control_correct": correct,
        "production_like": (
            [captures[i].pk for i in check.domain.production_like[:PRODUCTION_LIKE_SHOWN]]
            if check.domain
            else []
        ),
        "alarm": check.alarm,
        "reasons": check.reasons,
    }
    with transaction.atomic():
        previous = (
            DriftWindow.objects.select_for_update()
            .filter(deployment=deployment, source=source, window_start=start)
            .values_list("alarm", flat=True)
            .first()
        )
        row, _ = DriftWindow.objects.update_or_create(
            deployment=deployment, source=source, window_start=start, defaults=fields
        )
    if row.alarm and not previous:
        transaction.on_commit(lambda: announce_alarm(deployment, row))
    return row


def alarm_body(deployment: Deployment, row: DriftWindow) -> dict:
    return {
        "project": deployment.project_id,
        "deployment": deployment.pk,
        "deployment_name": deployment.name,
        "source": row.source,
        "window_start": row.window_start.isoformat(),
        "reasons": row.reasons,
        "domain_auc": row.domain_auc,
        "class_tvd": row.class_tvd,
        "page": f"/production/projects/{deployment.project_id}/",
    }


def announce_alarm(deployment: Deployment, row: DriftWindow) -> None:
    """Best effort, like every announcement: the drift row is committed whatever happens here."""
    body = alarm_body(deployment, row)
    layer = get_channel_layer()
    if layer is not None:
        try:
            async_to_sync(layer.group_send)(
                production_group(deployment.project_id), {"type": "drift.alarm", **body}
            )
        except Exception:  # any transport failure: the alarm stays on the page and in the API
            logger.warning("could not announce a drift alarm of deployment %s", deployment.pk, exc_info=True)
    if deployment.webhook_url:
        post_webhook(deployment.webhook_url, body)


def post_webhook(url: str, body: dict) -> None:
    request = urllib.request.Request(  # noqa: S310 - a manager-set http(s) URL (URLField)
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT):  # noqa: S310
            pass
    except OSError:
        logger.warning("drift alarm webhook %s failed", url, exc_info=True)
