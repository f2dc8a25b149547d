"""The model side of weak supervision: more-like-these and model-as-LF, the apply job on the worker,
the ``weak`` queue reason, and the weak-label weight chosen on held-out human labels."""

from __future__ import annotations

import numpy as np
import pytest
from rest_framework.test import APIClient

from active import weak, weak_training
from active.heads import head_config
from active.store import EmbeddingStore
from labelhub.projects.selectors import label_schema
from labelhub.queues.models import QueueEntry
from labelhub.weak import services as weak_services
from labelhub.weak.matrix import load_matrix
from labelhub.weak.models import LabelingFunction, WeakLabel, WeakRun
from tests import factories
from tests.active.builders import label_items, make_digits_project, run_queued_tasks

pytestmark = pytest.mark.django_db


def test_similar_votes_where_an_example_is_close_enough(data_dir):
    project = factories.make_project(classes=("a", "b"))
    items = factories.make_items(project, 4)
    store = EmbeddingStore(project.pk, "test", 2, root=data_dir)
    store.append([i.pk for i in items], np.array([[1, 0], [0.9, 0.1], [0, 1], [0.6, 0.8]], np.float16))
    # Centred on the pool mean (0.625, 0.475), item 3 is at cosine 0.70 of the example, items 0-1 opposite.
    function = LabelingFunction(
        kind="similar", label="b", config={"examples": [items[2].pk], "threshold": 0.6}
    )
    votes = weak.similar_evaluator(store, label_schema(project))(function, np.array([i.pk for i in items]))
    assert votes.tolist() == [-1, -1, 1, 1]


def test_weight_zero_when_weak_labels_do_not_help():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 0.6, (3, 16))
    y = rng.integers(0, 3, 120)
    X = (centres[y] + rng.normal(0, 1, (120, 16))).astype(np.float32)
    X_weak = (centres[rng.integers(0, 3, 600)] + rng.normal(0, 1, (600, 16))).astype(np.float32)
    y_weak = rng.integers(0, 3, 600)  # labels that say nothing about the vectors
    choice = weak_training.choose_weak_weight(
        X, y, (X_weak, y_weak, np.ones(600)), 3, "logistic", head_config("cpu", 16), seed=0
    )
    assert choice.weight == 0.0
    assert choice.scores[0.0] > max(s for w, s in choice.scores.items() if w > 0)


def test_weak_rows_change_the_head_only_with_a_positive_weight():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    X_weak = rng.normal(size=(200, 8)).astype(np.float32)
    y_weak = 1 - (X_weak[:, 0] > 0).astype(int)  # all wrong
    config = head_config("cpu", 8)
    alone = weak_training.fit_with_weak(X, y, X_weak, y_weak, np.ones(200), 0.0, 2, "logistic", config)
    mixed = weak_training.fit_with_weak(X, y, X_weak, y_weak, np.ones(200), 1.0, 2, "logistic", config)
    assert (alone.predict(X) == y).mean() > (mixed.predict(X) == y).mean()


def test_the_torch_head_takes_sample_weights():
    from active.heads import make_head

    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    config = {**head_config("cpu", 8), "epochs": 60}
    flipped = np.concatenate([y[:30], 1 - y[30:]])
    down = make_head("mlp", 2, config).fit(X, flipped, sample_weight=np.r_[np.ones(30), np.full(30, 1e-4)])
    assert (down.predict(X[:30]) == y[:30]).mean() > 0.8


def test_the_apply_job_labels_digits_with_model_and_similar_functions_and_queues_the_unsure():
    project, items, y = make_digits_project(limit=300, gold_rate=0, overlap_fraction=0)
    manager = factories.make_member(project, "manager")
    label_items(items[:60], y[:60], annotator=factories.make_member(project))
    weak_services.create_function(project, name="head", kind="model", config={"min_confidence": 0.6})
    zeros = [items[i].pk for i in range(60) if y[i] == 0][:3]
    weak_services.create_function(
        project, name="like zeros", kind="similar", label="0", config={"examples": zeros, "threshold": 0.5}
    )
    # A mistaken function (zeros given as examples of six): it conflicts with the others.
    weak_services.create_function(
        project, name="sixes?", kind="similar", label="6", config={"examples": zeros, "threshold": 0.6}
    )
    client = APIClient()
    client.force_authenticate(manager)
    started = client.post(f"/api/projects/{project.pk}/weak-runs/")
    assert started.status_code == 202
    assert client.post(f"/api/projects/{project.pk}/weak-runs/").status_code == 200  # one at a time
    assert run_queued_tasks() == 1
    run = WeakRun.objects.get(pk=started.json()["id"])
    assert run.status == "done", run.error
    progress = client.get(f"/api/projects/{project.pk}/weak-runs/{run.pk}/").json()
    assert progress["function_versions"] == {"head": 1, "like zeros": 1, "sixes?": 1}
    matrix = load_matrix(project)
    assert matrix.n_functions == 3
    weak_labels = {w.item_id: w.labels[0] for w in WeakLabel.objects.filter(project=project)}
    truth = {item.pk: str(t) for item, t in zip(items, y, strict=True)}
    labelled = {item.pk for item in items[:60]}
    # Judged on the items nobody labelled: labelled ones anchor the label model to their answer.
    accuracy = np.mean([weak_labels[i] == truth[i] for i in weak_labels if i not in labelled])
    assert len(weak_labels) > 150 and accuracy > 0.8
    queued = QueueEntry.objects.filter(project=project, reason=QueueEntry.Reason.WEAK)
    assert queued.count() == run.summary["queued_weak"] > 0
    assert not set(queued.values_list("item_id", flat=True)) & labelled


def test_a_round_weighs_the_weak_labels_on_held_out_human_labels_and_records_it():
    from active import services as active_services
    from active.models import ModelRound

    project, items, y = make_digits_project(
        limit=300, al_strategy="entropy", al_batch_size=20, al_trigger_labels=0
    )
    label_items(items[:80], y[:80])
    weak_services.create_function(project, name="head", kind="model", config={"min_confidence": 0.9})
    weak.run_weak(weak_services.start_run(project).pk)
    model_round, _ = active_services.request_round(project)
    assert run_queued_tasks() == 1
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE, model_round.error
    metrics = model_round.metrics
    assert metrics["weak_rows"] == WeakLabel.objects.filter(project=project).count() > 0
    assert metrics["weak_weight"] in weak_training.WEAK_WEIGHTS
    assert set(metrics["weak_cv"]) == {str(w) for w in weak_training.WEAK_WEIGHTS}


def test_a_kernel_head_round_keeps_to_the_human_labels_where_the_weak_rows_would_make_it_too_costly(
    monkeypatch,
):
    from active import pipeline
    from active import services as active_services
    from active.models import ModelRound

    project, items, y = make_digits_project(
        limit=300, al_strategy="entropy", al_batch_size=20, al_trigger_labels=0
    )
    label_items(items[:80], y[:80])
    weak_services.create_function(project, name="head", kind="model", config={"min_confidence": 0.9})
    weak.run_weak(weak_services.start_run(project).pk)
    original = pipeline.fit_head
    monkeypatch.setattr(pipeline, "fit_head", lambda *a, **kw: original(*a, **{**kw, "kind": "svm"}))
    # 80 human labels are affordable, the weak rows on top of them are not.
    monkeypatch.setattr(pipeline, "kernel_affordable", lambda n_labels, pool_rows: n_labels <= 80)
    model_round, _ = active_services.request_round(project)
    assert run_queued_tasks() == 1
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE, model_round.error
    metrics = model_round.metrics
    assert metrics["head"] == "svm"
    assert metrics["weak_rows"] == WeakLabel.objects.filter(project=project).count() > 0
    assert (metrics["weak_weight"], metrics["weak_skipped"]) == (0.0, "kernel head")
    assert "weak_cv" not in metrics


def test_a_run_with_an_unknown_label_model_is_a_400_naming_method():
    project = factories.make_project()
    client = APIClient()
    client.force_authenticate(factories.make_member(project, "manager"))
    response = client.post(f"/api/projects/{project.pk}/weak-runs/", {"method": "snorkel"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "method"
    assert not WeakRun.objects.exists()
