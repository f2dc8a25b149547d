"""The loop: a deployed model's captures are scored, the rules queue some, labelers label them,
and the next snapshot holds them."""

import numpy as np
import pytest

from labelhub.production import services
from labelhub.production.models import Capture
from labelhub.queues.models import QueueEntry
from labelhub.queues.services import lease_next_item, submit_annotation
from labelhub.snapshots.models import SnapshotItem
from labelhub.snapshots.services import cut_snapshot
from tests import factories
from tests.active.builders import run_queued_tasks
from tests.production.builders import (
    captures_url,
    clustered_project,
    embedded_record,
    token_client,
    unit_vectors,
)

pytestmark = pytest.mark.django_db


def test_capture_score_queue_label_snapshot():
    project, deployment, token, _, items, C = clustered_project()
    services.update_rules(
        project, {"control_share": 0.0, "uncertainty_margin": 0.2, "novelty_percentile": 0.95}
    )
    rng = np.random.default_rng(0)
    familiar = [
        embedded_record(f"f{i}", v, "cat", [0.9, 0.05, 0.05])
        for i, v in enumerate(unit_vectors(rng, C[0], 20))
    ]
    # A kind of input the training data never had, about which the model is unsure.
    novel = [
        embedded_record(f"n{i}", v, "cat", [0.5, 0.1, 0.4])
        for i, v in enumerate(unit_vectors(rng, C[3], 6, spread=0.3))
    ]
    response = token_client(token).post(
        captures_url(deployment), {"records": familiar + novel}, format="json"
    )
    assert response.json()["created"] == 26

    assert run_queued_tasks() == 1  # the scoring task the batch queued
    picked = Capture.objects.filter(deployment=deployment).exclude(rule="")
    # Every novel capture is picked; a familiar one only by the novelty rule's 5 % tail, if at all.
    assert {r["key"] for r in novel} <= set(picked.values_list("key", flat=True))
    assert picked.count() <= 6 + 3
    assert (
        QueueEntry.objects.filter(project=project, reason="production", is_open=True).count()
        == picked.count()
    )

    annotator = factories.make_member(project)
    labelled = []
    while (lease := lease_next_item(annotator, project)) is not None:
        submit_annotation(lease, ["wolf"])
        labelled.append(lease.entry.item_id)
    assert sorted(labelled) == sorted(picked.values_list("item_id", flat=True))

    snapshot, created = cut_snapshot(project, name="v2")
    assert created
    rows = SnapshotItem.objects.filter(snapshot=snapshot)
    assert rows.count() == len(items) + picked.count()
    production_rows = rows.filter(external_id__startswith="production-")
    assert set(production_rows.values_list("item_id", flat=True)) == set(labelled)
    assert all(labels == ["wolf"] for labels in production_rows.values_list("labels", flat=True))
