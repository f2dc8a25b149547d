"""The random control slice: who is in it, that rounds never train on it, and the estimates it gives."""

from __future__ import annotations

import numpy as np
import pytest

from active import control, pipeline, services
from active.embeddings import store_for
from active.models import ActiveSettings, ModelRound
from labelhub.projects.models import Item
from labelhub.queues.models import QueueEntry
from tests.active.builders import label_items, make_digits_project, run_queued_tasks


def test_membership_is_a_uniform_share_of_the_ids():
    ids = np.arange(1, 200_001)
    members = control.is_control(7, ids, 0.05)
    # Binomial(200k, 5 %): sd ≈ 97 items, so 4 sd is ±390.
    assert abs(members.sum() - 10_000) < 390
    # No drift along the id range: each block of 10k consecutive ids holds its 5 % (chi-square, 19 dof).
    per_block = members.reshape(20, -1).sum(axis=1)
    chi_square = (((per_block - 500) ** 2) / 500).sum()
    assert chi_square < 43.8  # the 0.999 quantile of chi-square with 19 degrees of freedom
    # Neighbouring ids are independent: the share among the successors of members is still 5 %.
    successors = members[1:][members[:-1]]
    assert abs(successors.mean() - 0.05) < 0.01


def test_membership_depends_on_the_ids_alone_and_nests_as_the_share_grows():
    ids = np.arange(1, 50_001)
    five, ten = control.is_control(3, ids, 0.05), control.is_control(3, ids, 0.10)
    assert np.array_equal(five, control.is_control(3, ids[::-1], 0.05)[::-1])  # order does not matter
    assert not (five & ~ten).any() and ten.sum() > five.sum()
    assert (five != control.is_control(4, ids, 0.05)).any()  # another project, another slice
    assert not control.is_control(3, ids, 0).any()


def test_wilson_interval_matches_the_textbook_values():
    low, high = control.wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    low, high = control.wilson_interval(0, 20)
    assert low == 0 and round(high, 4) == 0.1611
    assert control.wilson_interval(0, 0) == (0.0, 1.0)


def test_accuracy_estimate_on_a_hand_made_case():
    estimate = control.accuracy_estimate(np.array([0, 1, 1, 0, 2]), np.array([0, 1, 0, 0, 2]))
    low, high = control.wilson_interval(4, 5)
    assert estimate == {
        "labelled": 5,
        "correct": 4,
        "accuracy": 0.8,
        "interval": [round(low, 4), round(high, 4)],
    }


def test_controls_needed_keeps_the_share_of_what_is_served():
    assert control.controls_needed(0.05, served_other=95, served_controls=0) == 5
    assert control.controls_needed(0.05, served_other=95, served_controls=5) == 0
    assert control.controls_needed(0.05, served_other=96, served_controls=5) == 1
    assert control.controls_needed(0.2, served_other=80, served_controls=30) == 0
    assert control.controls_needed(0, served_other=1000, served_controls=0) == 0


class NearestMean:
    """A tiny head: predicts the class whose training mean is nearest."""

    def fit(self, X, y):
        self.classes = np.unique(y)
        self.means = np.stack([X[y == c].mean(axis=0) for c in self.classes])
        return self

    def predict(self, X):
        distances = ((X[:, None, :] - self.means[None]) ** 2).sum(axis=2)
        return self.classes[distances.argmin(axis=1)]


def two_blobs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.normal(size=(n, 2)) * 0.3 + np.stack([y * 3.0, y * 3.0], axis=1), y


def test_comparison_says_worse_when_the_active_labels_are_misleading():
    X_control, y_control = two_blobs(60, 0)
    X_al, y_al = two_blobs(200, 1)
    comparison = control.compare_with_random(X_control, y_control, X_al, 1 - y_al, NearestMean, seed=0)
    figures = comparison.as_metrics()
    assert figures["random_accuracy"] == 1.0 and figures["al_accuracy"] == 0.0
    assert figures["verdict"] == "worse" and figures["interval"][1] < 0
    assert figures["items"] == 60 and figures["labels"] == 48.0


def test_comparison_finds_no_difference_between_equally_good_labels():
    X_control, y_control = two_blobs(60, 0)
    X_al, y_al = two_blobs(200, 1)
    figures = control.compare_with_random(X_control, y_control, X_al, y_al, NearestMean).as_metrics()
    assert figures["difference"] == 0 and figures["verdict"] == "no clear difference"


def test_comparison_needs_enough_control_labels():
    X_control, y_control = two_blobs(control.MIN_COMPARE - 1, 0)
    X_al, y_al = two_blobs(200, 1)
    assert control.compare_with_random(X_control, y_control, X_al, y_al, NearestMean) is None


@pytest.mark.django_db
def test_a_round_trains_without_the_control_slice_and_measures_the_version_on_it(monkeypatch):
    project, items, y = make_digits_project(400, al_strategy="margin", al_batch_size=20, al_trigger_labels=0)
    ActiveSettings.objects.create(project=project, control_share=0.2)
    label_items(items[:200], y[:200])
    ids = np.array([item.pk for item in items[:200]])
    held_out = control.is_control(project.pk, ids, 0.2)
    fitted = []
    real_fit_head = pipeline.fit_head

    def spy(X, y_train, *args, **kwargs):
        head, choice = real_fit_head(X, y_train, *args, **kwargs)
        fitted.append((len(X), head))
        return head, choice

    monkeypatch.setattr(pipeline, "fit_head", spy)
    model_round, _ = services.request_round(project)
    run_queued_tasks()
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE, model_round.error

    metrics = model_round.metrics
    assert model_round.labels_used == int((~held_out).sum())  # control labels are not training labels
    assert sum(metrics["class_counts"].values()) == model_round.labels_used
    [(trained_on, head)] = fitted
    assert trained_on == metrics["train_size"] == model_round.labels_used - metrics["eval_size"]

    # The recorded estimate is this version's accuracy on the labelled control items.
    store = store_for(project)
    control_ids = ids[held_out]
    predicted = head.predict(store.get(control_ids))
    truth = y[:200][held_out]
    correct = int((predicted == truth).sum())
    low, high = control.wilson_interval(correct, len(truth))
    assert metrics["control"]["labelled"] == len(truth) == int(held_out.sum())
    assert metrics["control"]["correct"] == correct
    assert metrics["control"]["interval"] == [round(low, 4), round(high, 4)]
    assert metrics["control"]["vs_random"]["items"] == len(truth)

    # The batch holds no control item; the control entries hold nothing else and carry no suggestion.
    active = QueueEntry.objects.filter(project=project, reason="active").values_list("item_id", flat=True)
    assert len(active) == 20 and not control.is_control(project.pk, list(active), 0.2).any()
    queued = list(
        QueueEntry.objects.filter(project=project, reason="control").values_list("item_id", flat=True)
    )
    assert control.is_control(project.pk, queued, 0.2).all()
    assert (
        len(queued)
        == metrics["control"]["queued"]
        == control.controls_needed(0.2, served_other=model_round.labels_used + 20, served_controls=len(truth))
    )
    assert not Item.objects.filter(pk__in=queued, suggestion__isnull=False).exists()
