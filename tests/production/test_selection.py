"""The sampling rules: each selects what it says, within quotas and budget, deduplicated, queued."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from labelhub.production import scoring, selection, services
from labelhub.production.models import Capture
from labelhub.projects.models import Item
from labelhub.queues.models import QueueEntry
from tests import factories
from tests.production.builders import clustered_project, embedded_record, unit_vectors

pytestmark = pytest.mark.django_db

CONFIDENT = [0.9, 0.05, 0.05]
UNSURE = [0.45, 0.4, 0.15]


def setup_rules(project, **rules):
    base = {"control_share": 0.0, "novelty_percentile": 1.0, "uncertainty_margin": 0.0, "class_quota": 0}
    services.update_rules(project, {**base, **rules})


def send_and_triage(deployment, records):
    services.capture_batch(deployment, records, enqueue_scoring=lambda d: None)
    scoring.score_pending(deployment)
    return selection.triage(deployment)


def test_the_uncertainty_rule_selects_low_margins_and_queues_them_for_production():
    project, deployment, _, _, _, C = clustered_project()
    setup_rules(project, uncertainty_margin=0.2)
    rng = np.random.default_rng(0)
    vectors = unit_vectors(rng, C[0], 6)
    records = [
        embedded_record(f"u{i}", v, "cat", UNSURE if i < 2 else CONFIDENT) for i, v in enumerate(vectors)
    ]
    counts = send_and_triage(deployment, records)
    assert counts == {"uncertainty": 2}
    picked = Capture.objects.filter(deployment=deployment, rule="uncertainty")
    assert sorted(picked.values_list("key", flat=True)) == ["u0", "u1"]
    entries = QueueEntry.objects.filter(item_id__in=picked.values_list("item_id", flat=True))
    assert entries.count() == 2 and set(entries.values_list("reason", flat=True)) == {"production"}
    item = Item.objects.get(pk=picked.first().item_id)
    assert item.payload["production"]["rule"] == "uncertainty" and item.payload["text"].startswith(
        "production text"
    )
    assert Capture.objects.filter(deployment=deployment, triaged_at__isnull=True).count() == 0


def test_the_novelty_rule_selects_what_is_unlike_the_training_data():
    project, deployment, _, _, _, C = clustered_project()
    setup_rules(project, novelty_percentile=0.95)
    rng = np.random.default_rng(1)
    # Typical captures sit nearer their cluster's centre than the training items do (spread 0.01 vs
    # 0.03), so none of them reaches the 95th percentile whichever items the training split holds.
    records = [
        embedded_record(f"k{i}", v, "cat", CONFIDENT)
        for i, v in enumerate(unit_vectors(rng, C[0], 8, spread=0.01))
    ]
    records += [
        embedded_record(f"n{i}", v, "cat", CONFIDENT) for i, v in enumerate(unit_vectors(rng, C[3], 3))
    ]
    # near_duplicate_distance 0: the three novel captures are close to each other, keep them all here
    services.update_rules(project, {"near_duplicate_distance": 0.0})
    assert send_and_triage(deployment, records) == {"novelty": 3}
    assert set(Capture.objects.filter(rule="novelty").values_list("key", flat=True)) == {"n0", "n1", "n2"}


def test_disagreements_are_selected_only_when_asked():
    project, deployment, _, _, _, C = clustered_project()
    setup_rules(project, near_duplicate_distance=0.0)
    rng = np.random.default_rng(2)
    records = [
        embedded_record(f"d{i}", v, "wolf", CONFIDENT) for i, v in enumerate(unit_vectors(rng, C[0], 3))
    ]
    assert send_and_triage(deployment, records) == {}
    setup_rules(project, select_disagreements=True, near_duplicate_distance=0.0)
    more = [embedded_record(f"e{i}", v, "wolf", CONFIDENT) for i, v in enumerate(unit_vectors(rng, C[0], 3))]
    assert send_and_triage(deployment, more) == {"disagreement": 3}


def test_class_quotas_keep_a_rare_class_from_being_drowned():
    project, deployment, _, _, _, C = clustered_project()
    setup_rules(project, uncertainty_margin=0.2, class_quota=3, daily_budget=5, near_duplicate_distance=0.0)
    rng = np.random.default_rng(3)
    records = [embedded_record(f"c{i}", v, "cat", UNSURE) for i, v in enumerate(unit_vectors(rng, C[0], 20))]
    records += [embedded_record(f"w{i}", v, "wolf", UNSURE) for i, v in enumerate(unit_vectors(rng, C[2], 2))]
    assert send_and_triage(deployment, records) == {"uncertainty": 5}
    picked = list(Capture.objects.filter(rule="uncertainty").values_list("prediction", flat=True))
    assert picked.count(["wolf"]) == 2 and picked.count(["cat"]) == 3


def test_the_daily_budget_holds_across_batches_and_resets_the_next_day():
    project, deployment, _, _, _, C = clustered_project()
    setup_rules(project, uncertainty_margin=0.2, daily_budget=4, near_duplicate_distance=0.0)
    rng = np.random.default_rng(4)
    first = [embedded_record(f"a{i}", v, "cat", UNSURE) for i, v in enumerate(unit_vectors(rng, C[0], 3))]
    second = [embedded_record(f"b{i}", v, "cat", UNSURE) for i, v in enumerate(unit_vectors(rng, C[0], 3))]
    assert send_and_triage(deployment, first) == {"uncertainty": 3}
    assert send_and_triage(deployment, second) == {"uncertainty": 1}
    services.capture_batch(
        deployment,
        [embedded_record("c0", C[0] * 0.9 + C[1] * 0.1, "cat", UNSURE)],
        enqueue_scoring=lambda d: None,
    )
    scoring.score_pending(deployment)
    assert selection.triage(deployment, now=timezone.now() + timedelta(days=1)) == {"uncertainty": 1}


def test_the_control_slice_is_uniform_and_blind_to_scores():
    ids = np.arange(1, 200_001)
    inside = np.array([selection.in_control_slice(int(i), 0.02) for i in ids])
    assert inside.mean() == pytest.approx(0.02, abs=0.002)
    # Uniform along the stream: every tenth of it holds about its share (chi-square, 9 degrees of freedom).
    per_tenth = inside.reshape(10, -1).sum(axis=1)
    expected = inside.sum() / 10
    assert ((per_tenth - expected) ** 2 / expected).sum() < 27.9  # p = 0.001


def test_control_picks_ignore_the_other_rules():
    project, deployment, _, _, _, C = clustered_project()
    setup_rules(project, control_share=1.0, near_duplicate_distance=0.0)
    rng = np.random.default_rng(5)
    records = [
        embedded_record(f"x{i}", v, "cat", CONFIDENT) for i, v in enumerate(unit_vectors(rng, C[0], 4))
    ]
    assert send_and_triage(deployment, records) == {"control": 4}


def test_a_capture_already_in_the_pool_is_not_added_again():
    project, deployment, _, _, items, C = clustered_project()
    setup_rules(project, uncertainty_margin=0.2, near_duplicate_distance=0.0)
    same_text = embedded_record("dup", C[3], "cat", UNSURE)
    same_text["input"] = {"text": items[0].payload["text"]}
    before = Item.objects.filter(project=project).count()
    assert send_and_triage(deployment, [same_text]) == {"duplicate": 1}
    assert Capture.objects.get(key="dup").item_id == items[0].pk
    assert Item.objects.filter(project=project).count() == before


def test_a_near_duplicate_by_embedding_is_not_added_again():
    project, deployment, _, _, items, C = clustered_project()
    setup_rules(project, uncertainty_margin=0.2, near_duplicate_distance=0.01)
    from active.embeddings import store_for

    pool_vector = store_for(project).get([items[0].pk])[0]
    records = [
        embedded_record("near", pool_vector + 1e-4, "cat", UNSURE),
        embedded_record("far", C[3], "cat", UNSURE),
        embedded_record("far-again", C[3] + 1e-4, "cat", UNSURE),
    ]
    counts = send_and_triage(deployment, records)
    assert counts == {"duplicate": 2, "uncertainty": 1}
    assert Capture.objects.get(key="near").item_id == items[0].pk
    assert Capture.objects.get(key="far").rule == "uncertainty"


def test_disabled_rules_triage_without_selecting():
    project, deployment, _, _, _, C = clustered_project()
    services.update_rules(project, {"enabled": False})
    assert send_and_triage(deployment, [embedded_record("a", C[0], "cat", UNSURE)]) == {}
    assert Capture.objects.get(key="a").triaged_at is not None


def test_captures_past_retention_are_purged_unless_sent_to_labelling():
    project, deployment, _, _, _, C = clustered_project()
    setup_rules(project, uncertainty_margin=0.2, near_duplicate_distance=0.0)
    send_and_triage(
        deployment,
        [embedded_record("keep", C[0], "cat", UNSURE), embedded_record("go", C[1], "dog", CONFIDENT)],
    )
    assert selection.purge_expired(timedelta(days=30)) == 0
    assert selection.purge_expired(timedelta(days=30), now=timezone.now() + timedelta(days=31)) == 1
    assert list(Capture.objects.values_list("key", flat=True)) == ["keep"]


def test_rules_are_edited_field_by_field_through_the_api():
    project, deployment, _, client, _, _ = clustered_project()
    url = f"/api/projects/{project.pk}/production/rules/"
    assert client.get(url).json()["control_share"] == 0.02
    assert (
        client.patch(url, {"control_share": 0.05, "daily_budget": 50}, format="json").json()["daily_budget"]
        == 50
    )
    bad = client.patch(url, {"control_share": 2}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "control_share"
    assert client.patch(url, {"colour": 1}, format="json").json()["field"] == "colour"


def test_a_pick_already_in_the_pool_unlabelled_queues_that_item():
    project, deployment, _, _, _, C = clustered_project()
    setup_rules(project, uncertainty_margin=0.2, near_duplicate_distance=0.0)
    pool_item = factories.make_items(project, 1, prefix="unlabelled")[0]
    again = embedded_record("seen", C[3], "cat", UNSURE)
    again["input"] = {"text": pool_item.payload["text"]}
    before = Item.objects.filter(project=project).count()
    assert send_and_triage(deployment, [again]) == {"uncertainty": 1}
    assert Capture.objects.get(key="seen").item_id == pool_item.pk
    assert Item.objects.filter(project=project).count() == before
    assert QueueEntry.objects.get(item=pool_item, is_open=True).reason == "production"
