"""The demo's simulated deployment: a snapshot of digits 0-6, then a stream that drifts."""

from datetime import UTC, datetime

import pytest

from labelhub.production import demo, monitoring, scoring, services
from labelhub.production.models import Capture, DriftWindow
from labelhub.snapshots.models import SnapshotItem
from tests import factories
from tests.active.builders import make_digits_project

pytestmark = pytest.mark.django_db


@pytest.mark.slow
@pytest.mark.parametrize("projects_before", [0, 5])
def test_the_demo_stream_is_quiet_before_its_drift_and_alarms_after(projects_before):
    # Other projects first move the demo project's id: its model and verdicts must not move with it.
    for _ in range(projects_before):
        factories.make_project()
    project, _, _ = make_digits_project(limit=600, gold_rate=0, overlap_fraction=0)
    deployment, token = demo.demo_deployment(project, training_items=250)
    snapshot = deployment.model_run.snapshot
    assert snapshot.split_key == "external_id"
    labels = {
        row[0] for row in SnapshotItem.objects.filter(snapshot=snapshot).values_list("labels", flat=True)
    }
    assert snapshot.item_count == 250 and labels <= set(demo.KNOWN_CLASSES)
    assert 0.5 < deployment.model_run.metrics["accuracy"] <= 1.0
    start = datetime(2026, 12, 1, tzinfo=UTC)
    sent = demo.stream(
        deployment,
        lambda records: services.capture_batch(deployment, records, enqueue_scoring=lambda d: None),
        windows=5,
        drift_after=2,
        per_window=400,
        pause=0,
        start=start,
        digits_limit=600,
    )
    assert sent == 2000 and Capture.objects.filter(deployment=deployment).count() == 2000
    scoring.score_pending(deployment)
    monitoring.check_windows(deployment, since=start)
    rows = list(DriftWindow.objects.order_by("window_start"))
    alarms = [row.alarm for row in rows]
    reasons = [row.reasons for row in rows]
    # The embeddings: quiet before the drift; after it (30 % digits the model never saw) most windows
    # alarm. (The class mix is not asserted: a nearest-centroid model's predicted mix differs from
    # the training labels' mix by its own bias, which that test rightly reports.)
    embedding_alarms = ["embeddings" in r for r in reasons]
    p_values = [(r.domain_p, r.mmd_p, r.domain_auc) for r in rows]
    assert embedding_alarms[:2] == [False, False] and sum(embedding_alarms[2:]) >= 2, (reasons, p_values)
    # Every window whose embeddings moved raises the alarm (other reasons may raise it too).
    assert all(alarm for alarm, moved in zip(alarms, embedding_alarms, strict=True) if moved), reasons
    # Running it again (a restarted demo) keeps the deployment and hands out a new token.
    again, new_token = demo.demo_deployment(project)
    assert again.pk == deployment.pk and new_token != token
