"""The balance sampler moves a 1:99 pool toward a 1:10 labelled set (a labeling simulation)."""

from __future__ import annotations

import hashlib
import random

import pytest
from django.db.models import F

from labelhub.projects.models import Annotation, GroundTruth, Item
from labelhub.queues import sampling
from labelhub.queues.models import QueueEntry
from labelhub.queues.services import fill_queue
from tests import factories

pytestmark = pytest.mark.django_db

POOL = 4000
WOLVES = 40  # 1:99
ROUNDS = 10
BATCH = 20


def make_pool(project, rng: random.Random, *, with_model: bool) -> None:
    """A 1:99 wolf:dog pool with ground truth and, optionally, a noisy model's suggestions."""
    truth = ["wolf"] * WOLVES + ["dog"] * (POOL - WOLVES)
    rng.shuffle(truth)
    items = []
    for i, label in enumerate(truth):
        suggestion = None
        if with_model:
            # A useful but imperfect model: the classes' probability ranges overlap in 0.3-0.45.
            p_wolf = rng.uniform(0.3, 0.95) if label == "wolf" else rng.uniform(0.01, 0.45)
            guess = "wolf" if p_wolf >= 0.5 else "dog"
            suggestion = {
                "labels": [guess],
                "confidence": max(p_wolf, 1 - p_wolf),
                "probabilities": {"wolf": p_wolf, "dog": 1 - p_wolf},
            }
        digest = hashlib.sha256(f"animal {i}".encode()).hexdigest()
        items.append(
            Item(
                project=project,
                external_id=f"a{i}",
                payload={"text": f"animal {i}"},
                content_hash=digest,
                suggestion=suggestion,
            )
        )
    created = Item.objects.bulk_create(items, batch_size=1000)
    GroundTruth.objects.bulk_create(
        GroundTruth(item=item, labels=[label]) for item, label in zip(created, truth, strict=True)
    )


def simulate(project, oracle, rng: random.Random) -> float:
    """Fill, let the oracle label every queued item, repeat; the labelled set's wolf share."""
    truth = dict(GroundTruth.objects.filter(item__project=project).values_list("item_id", "labels"))
    for _ in range(ROUNDS):
        fill_queue(project, BATCH, rng=rng, announce=False)
        entries = list(QueueEntry.objects.filter(project=project, is_open=True))
        Annotation.objects.bulk_create(
            Annotation(item_id=e.item_id, annotator=oracle, labels=truth[e.item_id], source="oracle")
            for e in entries
        )
        QueueEntry.objects.filter(pk__in=[e.pk for e in entries]).update(
            is_open=False, completed_annotations=F("required_annotations")
        )
    labels = [
        labels[0]
        for labels in Annotation.objects.filter(item__project=project).values_list("labels", flat=True)
    ]
    assert len(labels) == ROUNDS * BATCH
    return labels.count("wolf") / len(labels)


def test_balance_sampler_moves_a_1_to_99_pool_toward_1_to_10():
    rng = random.Random(7)
    project = factories.make_project(
        classes=("wolf", "dog"), balance_target={"wolf": 1, "dog": 10}, overlap_fraction=0, gold_rate=0
    )
    make_pool(project, rng, with_model=True)
    share = simulate(project, factories.make_user(), rng)
    # Target 1/11 = 9.1 %; the raw pool gives 1 %.
    assert 0.06 <= share <= 0.13
    assert set(QueueEntry.objects.values_list("reason", flat=True)) == {"balance"}


def test_without_a_target_the_fill_follows_the_pool():
    rng = random.Random(7)
    project = factories.make_project(classes=("wolf", "dog"), overlap_fraction=0, gold_rate=0)
    make_pool(project, rng, with_model=True)
    share = simulate(project, factories.make_user(), rng)
    assert share <= 0.04
    assert set(QueueEntry.objects.values_list("reason", flat=True)) == {"random"}


def test_class_quotas_split_by_weight_and_give_unusable_slots_to_the_others():
    assert sampling.class_quotas(20, {"a": 0.5, "b": 0.5}, {"a": 100, "b": 100}) == {"a": 10, "b": 10}
    assert sampling.class_quotas(20, {"a": 0.5, "b": 0.5}, {"a": 3, "b": 100}) == {"a": 3, "b": 17}
    assert sampling.class_quotas(10, {"a": 1 / 3, "b": 2 / 3, "c": 0}, {"a": 9, "b": 9, "c": 9}) == {
        "a": 3,
        "b": 7,
        "c": 0,
    }
    # A class without weight gets slots only once the weighted ones have no candidates left.
    assert sampling.class_quotas(10, {"a": 1.0, "b": 0.0}, {"a": 4, "b": 9}) == {"a": 4, "b": 6}
    assert sampling.class_quotas(10, {"a": 1.0}, {"a": 0}) == {"a": 0}


def make_predicted_pool(project, predicted_a: int, total: int) -> None:
    """Items the model predicts as class a (p = 0.9) or b (p(a) = 0.1), the first ``predicted_a`` as a."""
    items = []
    for i in range(total):
        p_a = 0.9 if i < predicted_a else 0.1
        suggestion = {"labels": ["a" if p_a > 0.5 else "b"], "probabilities": {"a": p_a, "b": 1 - p_a}}
        digest = hashlib.sha256(f"thing {i}".encode()).hexdigest()
        items.append(
            Item(
                project=project,
                external_id=f"t{i}",
                payload={"text": f"thing {i}"},
                content_hash=digest,
                suggestion=suggestion,
            )
        )
    Item.objects.bulk_create(items)


def predicted_classes_queued(project) -> list[str]:
    return [
        suggestion["labels"][0]
        for suggestion in QueueEntry.objects.filter(project=project).values_list(
            "item__suggestion", flat=True
        )
    ]


def test_a_refill_turns_the_balance_target_into_per_class_quotas():
    project = factories.make_project(
        classes=("a", "b"), balance_target={"uniform": True}, overlap_fraction=0, gold_rate=0
    )
    make_predicted_pool(project, predicted_a=100, total=1000)
    # A uniform target on an empty labelled set: half of the 20 slots for each predicted class.
    # (Score reweighting ranks every item the same here, 0.5, and would queue about 2 of class a.)
    assert fill_queue(project, 20, rng=random.Random(1), announce=False) == 20
    queued = predicted_classes_queued(project)
    assert queued.count("a") == 10 and queued.count("b") == 10
    assert set(QueueEntry.objects.values_list("reason", flat=True)) == {"balance"}


def test_refill_quotas_follow_what_the_labelled_set_lacks():
    project = factories.make_project(
        classes=("a", "b"), balance_target={"uniform": True}, overlap_fraction=0, gold_rate=0
    )
    make_predicted_pool(project, predicted_a=500, total=1000)
    annotator = factories.make_user()
    labelled = list(Item.objects.filter(project=project).order_by("pk")[:40])
    Annotation.objects.bulk_create(
        Annotation(item=item, annotator=annotator, labels=["a" if i < 30 else "b"])
        for i, item in enumerate(labelled)
    )
    # 30 a and 10 b labelled: only b falls short of 50 %, so all 20 slots go to predicted b.
    fill_queue(project, 20, rng=random.Random(2), announce=False)
    assert predicted_classes_queued(project) == ["b"] * 20
