"""Consensus: majority vote, Dawid–Skene, the bulk write and the recompute command."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene
from django.core.management import call_command
from django.utils import timezone

from annotators.qa.agreement import load_ratings
from annotators.qa.consensus import (
    DS_MAX_ITERATIONS,
    DS_TOLERANCE,
    compute_consensus,
    dawid_skene,
    dawid_skene_posteriors,
    majority_vote,
    refresh_item_consensus,
)
from annotators.qa.models import AdjudicationTask, ConsensusLabel
from annotators.qa.signals import item_collecting_labels
from tests import factories
from tests.annotators.qa.builders import (
    label,
    simulate_crowd,
)

# crowd-kit 1.4 passes pandas 3 deprecated keywords (inplace=, copy=) inside its reference models.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*(inplace|copy) keyword"),
]


@pytest.fixture
def voted(db):
    project = factories.make_project(classes=("cat", "dog", "wolf"))
    items = factories.make_items(project, 4)
    people = [factories.make_member(project) for _ in range(3)]
    votes = [["cat", "cat", "dog"], ["dog", "wolf", None], ["wolf", None, None], ["cat", "cat", "cat"]]
    for item, row in zip(items, votes, strict=True):
        for who, answer in zip(people, row, strict=True):
            if answer:
                label(item, who, [answer])
    return project, items, people


def test_majority_vote_takes_the_most_frequent_label_with_its_share_as_confidence(voted):
    project, items, _ = voted
    compute_consensus(project, method="majority")
    first = ConsensusLabel.objects.get(item=items[0])
    assert (first.labels, first.method, first.annotator_count) == (["cat"], "majority", 3)
    assert first.confidence == pytest.approx(2 / 3, abs=1e-6)


def test_a_tie_gets_low_confidence_and_goes_to_adjudication(voted):
    project, items, _ = voted
    compute_consensus(project, method="majority")
    tied = ConsensusLabel.objects.get(item=items[1])
    assert tied.confidence == pytest.approx(0.5)
    task = AdjudicationTask.objects.get(item=items[1], status="open")
    assert task.reason == AdjudicationTask.Reason.TIE


def test_single_annotation_gets_method_single(voted):
    project, items, _ = voted
    compute_consensus(project, method="majority")
    single = ConsensusLabel.objects.get(item=items[2])
    assert (single.labels, single.method, single.annotator_count) == (["wolf"], "single", 1)


def test_unanimous_items_do_not_go_to_adjudication(voted):
    project, items, _ = voted
    compute_consensus(project, method="majority")
    assert not AdjudicationTask.objects.filter(item__in=[items[2], items[3]]).exists()
    assert AdjudicationTask.objects.filter(item=items[0], reason="disagreement").exists()


def test_recompute_never_overwrites_an_adjudicated_label(voted):
    project, items, _ = voted
    ConsensusLabel.objects.create(item=items[0], labels=["dog"], method="adjudicated", annotator_count=3)
    compute_consensus(project, method="majority")
    assert ConsensusLabel.objects.get(item=items[0]).labels == ["dog"]


def test_consensus_of_an_item_whose_labels_were_all_retracted_is_removed(voted):
    project, items, _ = voted
    compute_consensus(project, method="majority")
    items[2].annotations.update(retracted_at=timezone.now())
    compute_consensus(project, method="majority")
    assert not ConsensusLabel.objects.filter(item=items[2]).exists()


def test_dawid_skene_labels_equal_crowd_kit_on_the_same_answers(db):
    crowd = simulate_crowd(n_items=60, seed=11)
    ratings = load_ratings(crowd.project)
    ours = dawid_skene(ratings)
    answers = pd.DataFrame({"task": ratings.item, "worker": ratings.annotator, "label": ratings.label_set})
    reference = DawidSkene(n_iter=DS_MAX_ITERATIONS, tol=DS_TOLERANCE).fit(answers).probas_.sort_index()
    expected = [list(ratings.sets[int(reference.columns[i])]) for i in reference.to_numpy().argmax(axis=1)]
    assert ours.labels == expected
    assert np.allclose(ours.confidence, reference.to_numpy().max(axis=1), atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_dawid_skene_posteriors_equal_crowd_kit_on_random_sparse_answers(seed):
    rng = np.random.default_rng(seed)
    n_items, n_workers, k = 150, 7, 4
    truth = rng.integers(0, k, n_items)
    skill = rng.uniform(0.2, 0.95, n_workers)
    rows = [
        (item, worker, truth[item] if rng.random() < skill[worker] else int(rng.integers(k)))
        for item in range(n_items)
        for worker in rng.choice(n_workers, size=int(rng.integers(1, 5)), replace=False)
    ]
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    values, probas = dawid_skene_posteriors(answers["task"], answers["worker"], answers["label"])
    model = DawidSkene(n_iter=DS_MAX_ITERATIONS, tol=DS_TOLERANCE).fit(answers)
    reference = model.probas_.sort_index()[list(values)].to_numpy()
    assert np.allclose(probas, reference, atol=1e-6)


def test_multi_label_majority_keeps_classes_chosen_by_more_than_half(db):
    project = factories.make_project(classes=("red", "green", "blue"), multi_label=True)
    (item,) = factories.make_items(project, 1)
    for labels in (["red", "green"], ["red"], ["red", "blue", "green"]):
        label(item, factories.make_member(project), labels)
    resolution = majority_vote(load_ratings(project))
    assert resolution.labels == [["red", "green"]]  # schema order, as clean_labels stores labels
    # red 3/3, green 2/3, blue 1/3 -> mean certainty (1 + 2/3 + 2/3) / 3
    assert resolution.confidence[0] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_multi_label_dawid_skene_runs_one_binary_model_per_class(db):
    project = factories.make_project(classes=("red", "green"), multi_label=True)
    items = factories.make_items(project, 20)
    people = [factories.make_member(project) for _ in range(3)]
    for i, item in enumerate(items):
        truth = ["red"] if i % 2 else ["red", "green"]
        for who in people:
            label(item, who, truth)
    resolution = dawid_skene(load_ratings(project))
    assert resolution.labels == [["red"] if i % 2 else ["red", "green"] for i in range(20)]


def test_refresh_item_consensus_on_submit_uses_majority_and_opens_disputes(voted):
    _, items, people = voted
    consensus = refresh_item_consensus(items[3])
    assert (consensus.labels, consensus.method) == (["cat"], "majority")
    label(items[2], people[1], ["dog"])
    refresh_item_consensus(items[2])
    assert AdjudicationTask.objects.filter(item=items[2], status="open").exists()


def test_a_dispute_waits_while_a_receiver_says_more_labels_are_coming(voted):
    """QA asks ``item_collecting_labels`` (the queues app answers: the item's entry is open)."""
    _, items, people = voted
    collecting = {items[2].pk}

    def item_still_queued(sender, *, item, **kwargs):
        return item.pk in collecting

    item_collecting_labels.connect(item_still_queued, dispatch_uid="test-collecting")
    try:
        label(items[2], people[1], ["dog"])
        refresh_item_consensus(items[2])
        assert not AdjudicationTask.objects.filter(item=items[2]).exists()
        collecting.clear()  # the last overlap copy came in
        refresh_item_consensus(items[2])
        assert AdjudicationTask.objects.filter(item=items[2], status="open").exists()
    finally:
        item_collecting_labels.disconnect(dispatch_uid="test-collecting")


def test_consensus_labels_are_stored_in_schema_order(db):
    project = factories.make_project(classes=("wolf", "dog", "cat"), multi_label=True)
    (item,) = factories.make_items(project, 1)
    for _ in range(3):
        label(item, factories.make_member(project), ["cat", "wolf"])
    compute_consensus(project, method="majority")
    assert ConsensusLabel.objects.get(item=item).labels == ["wolf", "cat"]
    assert refresh_item_consensus(item).labels == ["wolf", "cat"]
    compute_consensus(project, method="dawid_skene")
    assert ConsensusLabel.objects.get(item=item).labels == ["wolf", "cat"]


def test_compute_consensus_command_prints_figures(voted):
    project, _, _ = voted
    out = StringIO()
    call_command("compute_consensus", "--project", str(project.pk), "--method", "dawid_skene", stdout=out)
    figures = json.loads(out.getvalue())
    assert figures["method"] == "dawid_skene" and figures["items"] == 4
    assert ConsensusLabel.objects.filter(item__project=project, method="dawid_skene").count() == 3


def test_compute_consensus_command_names_an_unknown_project(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("compute_consensus", "--project", "nope")


def test_dawid_skene_beats_majority_vote_on_a_crowd_with_two_random_annotators(db):
    crowd = simulate_crowd()
    ratings = load_ratings(crowd.project)

    def accuracy(resolution) -> float:
        truth = [crowd.truth[int(i)] for i in resolution.item_ids]
        return float(np.mean([labels == [t] for labels, t in zip(resolution.labels, truth, strict=True)]))

    majority, ds = accuracy(majority_vote(ratings)), accuracy(dawid_skene(ratings))
    assert ds > majority, (ds, majority)


def ratings_of_one_item(item):
    """One item's ratings coded the general way (a data frame through ``ratings_from_frame``)."""
    from annotators.qa.agreement import ratings_from_frame
    from labelhub.projects.models import Annotation, LabelClass

    rows = list(
        Annotation.objects.filter(item=item, retracted_at__isnull=True, annotator__isnull=False).values_list(
            "id", "item_id", "annotator_id", "labels", "guideline_version_id", "created_at"
        )
    )
    frame = pd.DataFrame(
        [(r[0], r[1], r[2], json.dumps(r[3]), r[4], r[5]) for r in rows],
        columns=["id", "item_id", "annotator_id", "labels", "version_id", "created_at"],
    )
    classes = list(LabelClass.objects.filter(project_id=item.project_id).values_list("name", flat=True))
    return ratings_from_frame(frame, classes, multi_label=item.project.multi_label)


@pytest.mark.parametrize("multi_label", [False, True])
def test_one_item_majority_equals_the_general_majority_vote(db, multi_label):
    """The submit path's pandas-free vote gives what majority_vote gives on the same item."""
    import random

    from annotators.qa.consensus import item_majority

    rng = random.Random(7 + multi_label)
    project = factories.make_project(classes=("cat", "dog", "wolf"), multi_label=multi_label)
    people = [factories.make_member(project) for _ in range(5)]
    items = factories.make_items(project, 60)
    names = ["cat", "dog", "wolf", "retired-class"]
    for item in items:
        for _ in range(rng.randint(1, 7)):
            who = rng.choice(people)  # the same annotator twice: their latest label counts
            labels = rng.sample(names, rng.randint(0, 3)) if multi_label else [rng.choice(names)]
            retracted = timezone.now() if rng.random() < 0.1 else None
            label(item, who, labels, retracted_at=retracted)
    compared = 0
    for item in items:
        fast = item_majority(item)
        ratings = ratings_of_one_item(item)
        if len(ratings) == 0:
            assert fast is None
            continue
        general = majority_vote(ratings)
        assert fast.labels == [list(x) for x in general.labels], item.pk
        np.testing.assert_allclose(fast.confidence, general.confidence)
        for field in ("item_ids", "annotator_count", "method", "tie", "disagreement"):
            assert list(getattr(fast, field)) == list(getattr(general, field)), (field, item.pk)
        compared += 1
    assert compared > 50
