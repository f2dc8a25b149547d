"""Label-noise checks end to end: the job, its resumability, gold, CROWDLAB, review outcomes."""

from __future__ import annotations

import numpy as np
import pytest
from django_tasks_db.models import DBTaskResult

from active import noise, noise_jobs, services
from active.models import NoiseCheck, NoiseReview, NoiseScore
from annotators.qa import services as qa_services
from annotators.qa.gold import mark_gold
from annotators.qa.models import AdjudicationTask, AnnotatorFlag, ConsensusLabel
from annotators.qa.resolved import resolved_labels
from labelhub.projects.models import Annotation
from labelhub.queues.models import ItemFlag
from labelhub.snapshots.selectors import diff_snapshots
from labelhub.snapshots.services import cut_snapshot
from tests import factories
from tests.active.builders import label_items, make_digits_project, run_queued_tasks

pytestmark = pytest.mark.django_db

N_ITEMS = 400


@pytest.fixture
def noisy_digits(settings):
    """400 digits labelled by one annotator, 5 % of them flipped (fixed seed)."""
    settings.LABELHUB_NOISE_REVIEW_BUDGET = 10
    project, items, y = make_digits_project(N_ITEMS, al_trigger_labels=0)
    annotator = factories.make_member(project, "annotator")
    noisy, flipped = noise.flip_labels(y, 10, 0.05, seed=0)
    label_items(items, noisy, annotator)
    return project, items, y, noisy, flipped, annotator


def run_check(project):
    check, created = services.request_noise_check(project)
    assert created
    run_queued_tasks()
    check.refresh_from_db()
    assert check.state == NoiseCheck.State.DONE, check.error
    return check


def test_check_scores_every_labelled_item_out_of_sample_and_sends_top_suspects(noisy_digits):
    project, items, y, noisy, flipped, _ = noisy_digits
    check = run_check(project)
    assert check.labelled == N_ITEMS and check.folds_done == check.folds == 5
    assert NoiseScore.objects.filter(noise_check=check).count() == N_ITEMS
    assert check.sent_to_review == 10
    tasks = AdjudicationTask.objects.filter(project=project, reason=AdjudicationTask.Reason.LABEL_ERROR)
    assert tasks.count() == 10
    planted = {items[i].pk for i in flipped}
    assert len(planted & set(tasks.values_list("item_id", flat=True))) >= 7  # most suspects are planted flips
    task = tasks.first()
    assert "Given label:" in task.detail and "The model suggests" in task.detail
    review = NoiseReview.objects.get(task=task)
    assert review.outcome == NoiseReview.Outcome.PENDING and 0 <= review.confidence <= 1
    assert check.metrics["suspects_by_class"]["0"]["labelled"] == int((noisy == 0).sum())


def test_gold_items_are_never_suspected(noisy_digits):
    project, items, y, noisy, flipped, _ = noisy_digits
    # Gold answers on the planted flips' items: the answer is the (wrong) label the annotator gave,
    # so they are the most suspect-looking items there are — and still never suspects.
    mark_gold(project, [(items[i].pk, [str(noisy[i])]) for i in flipped])
    check = run_check(project)
    gold_scores = NoiseScore.objects.filter(noise_check=check, is_gold=True)
    assert gold_scores.count() == len(flipped)
    assert not gold_scores.filter(is_issue=True).exists()
    assert not gold_scores.filter(rank__isnull=False).exists()
    sent = set(AdjudicationTask.objects.filter(project=project).values_list("item_id", flat=True))
    assert not sent & {items[i].pk for i in flipped}


def test_a_rerun_of_a_finished_check_writes_nothing_twice(noisy_digits):
    project, *_ = noisy_digits
    check = run_check(project)
    scores, reviews = NoiseScore.objects.count(), NoiseReview.objects.count()
    # The same task delivered again (a duplicate): the check is no longer pending, nothing happens.
    assert noise_jobs.attempt_check(check.pk, enqueue=lambda *a: None) == {"check": check.pk, "skipped": True}
    assert (NoiseScore.objects.count(), NoiseReview.objects.count()) == (scores, reviews)


def test_a_failed_attempt_resumes_at_the_first_missing_fold(noisy_digits, monkeypatch):
    project, *_ = noisy_digits
    check, _ = services.request_noise_check(project)
    fitted_folds = []
    real = noise_jobs.write_fold

    def crash_after_two(check_, data, class_names, fold, rows, proba):
        real(check_, data, class_names, fold, rows, proba)
        fitted_folds.append(fold)
        if len(fitted_folds) == 2:
            raise RuntimeError("worker lost its GPU")

    monkeypatch.setattr(noise_jobs, "write_fold", crash_after_two)
    run_queued_tasks()
    check.refresh_from_db()
    assert check.state == NoiseCheck.State.PENDING and check.folds_done == 2
    assert "worker lost its GPU" in check.error
    stored = NoiseScore.objects.filter(noise_check=check).count()
    assert 0 < stored < N_ITEMS

    run_queued_tasks(include_delayed=True)
    check.refresh_from_db()
    assert check.state == NoiseCheck.State.DONE, check.error
    assert fitted_folds == [0, 1, 2, 3, 4]  # folds 0 and 1 were not fitted again
    assert NoiseScore.objects.filter(noise_check=check).count() == N_ITEMS
    assert DBTaskResult.objects.count() == 2


def test_resumed_folds_give_the_same_scores_as_an_uninterrupted_run(noisy_digits):
    project, *_ = noisy_digits
    check = run_check(project)
    first = dict(NoiseScore.objects.filter(noise_check=check).values_list("item_id", "quality"))
    # Replay the finished check as if it had stopped before detection: every fold comes from storage.
    NoiseCheck.objects.filter(pk=check.pk).update(state=NoiseCheck.State.RUNNING)
    check.refresh_from_db()
    NoiseReview.objects.all().delete()
    AdjudicationTask.objects.all().delete()
    noise_jobs.run_check(check)
    again = dict(NoiseScore.objects.filter(noise_check=check).values_list("item_id", "quality"))
    assert again == first


def test_a_fix_in_review_becomes_consensus_marks_the_review_and_counts_against_the_annotator(
    noisy_digits,
):
    project, items, y, noisy, flipped, annotator = noisy_digits
    project.qa_min_count = 1
    project.qa_min_gold_accuracy = 0.999
    project.save()
    run_check(project)
    reviewer = factories.make_member(project, "reviewer")
    task = AdjudicationTask.objects.filter(reason=AdjudicationTask.Reason.LABEL_ERROR).first()
    truth = str(y[[i.pk for i in items].index(task.item_id)])
    review = NoiseReview.objects.get(task=task)
    fix = truth if truth != review.given[0] else review.suggested
    qa_services.resolve_adjudication(task, reviewer, [fix])
    review.refresh_from_db()
    assert review.outcome == NoiseReview.Outcome.FIXED and review.fixed_to == [fix]
    assert dict(resolved_labels(project))[task.item_id] == [fix]
    assert ConsensusLabel.objects.get(item_id=task.item_id).method == ConsensusLabel.Method.ADJUDICATED
    flag = AnnotatorFlag.objects.get(annotator=annotator, kind=AnnotatorFlag.Kind.REVIEW_ERRORS)
    assert "found wrong in label-error review" in flag.reason


def test_confirming_the_given_label_is_no_error(noisy_digits):
    project, *_ = noisy_digits
    run_check(project)
    reviewer = factories.make_member(project, "reviewer")
    task = AdjudicationTask.objects.filter(reason=AdjudicationTask.Reason.LABEL_ERROR).first()
    review = NoiseReview.objects.get(task=task)
    qa_services.resolve_adjudication(task, reviewer, review.given)
    review.refresh_from_db()
    assert review.outcome == NoiseReview.Outcome.CONFIRMED
    assert not AnnotatorFlag.objects.filter(kind=AnnotatorFlag.Kind.REVIEW_ERRORS).exists()


def test_an_ambiguous_suspect_becomes_a_guideline_question_and_keeps_its_label(noisy_digits):
    project, *_ = noisy_digits
    run_check(project)
    reviewer = factories.make_member(project, "reviewer")
    task = AdjudicationTask.objects.filter(reason=AdjudicationTask.Reason.LABEL_ERROR).first()
    before = dict(resolved_labels(project))[task.item_id]
    qa_services.resolve_adjudication(task, reviewer, ambiguous=True, note="a 1 or a 7?")
    review = NoiseReview.objects.get(task=task)
    assert review.outcome == NoiseReview.Outcome.AMBIGUOUS
    flag = ItemFlag.objects.get(item_id=task.item_id)
    assert flag.annotator == reviewer and "a 1 or a 7?" in flag.comment
    assert dict(resolved_labels(project))[task.item_id] == before


def test_items_with_several_annotators_are_judged_by_crowdlab(noisy_digits):
    project, items, y, noisy, flipped, first = noisy_digits
    others = [factories.make_member(project, "annotator") for _ in range(2)]
    # Two more annotators on the first 150 items: one careful, one who is wrong a third of the time.
    rng = np.random.default_rng(1)
    sloppy = np.where(rng.random(150) < 1 / 3, (y[:150] + 1) % 10, y[:150])
    label_items(items[:150], y[:150], others[0])
    label_items(items[:150], sloppy, others[1])
    check = run_check(project)
    assert check.metrics["crowdlab_items"] == 150
    crowd = check.metrics["crowdlab"]
    assert set(crowd) == {str(u.pk) for u in [first, *others]}
    assert crowd[str(others[0].pk)]["quality"] > crowd[str(others[1].pk)]["quality"]
    assert set(check.metrics["dawid_skene"]) == set(crowd)
    assert NoiseScore.objects.filter(noise_check=check, annotators=3).count() == 150


def test_a_finished_round_queues_a_check(noisy_digits, settings):
    project, *_ = noisy_digits
    settings.LABELHUB_NOISE_AFTER_ROUND = True
    model_round, _ = services.request_round(project)
    run_queued_tasks()
    check = NoiseCheck.objects.get(project=project)
    assert check.model_round == model_round and check.trigger == NoiseCheck.Trigger.ROUND
    assert check.state == NoiseCheck.State.DONE, check.error


def test_annotations_of_a_check_are_the_latest_per_annotator(noisy_digits):
    project, items, *_ = noisy_digits
    annotator = Annotation.objects.first().annotator
    Annotation.objects.create(item=items[0], annotator=annotator, labels=["3"])
    check = run_check(project)
    assert NoiseScore.objects.get(noise_check=check, item=items[0]).annotators == 1


def test_a_fix_in_review_shows_in_the_next_snapshots_diff(noisy_digits):
    project, items, y, *_ = noisy_digits
    run_check(project)
    before, _ = cut_snapshot(project)
    reviewer = factories.make_member(project, "reviewer")
    task = AdjudicationTask.objects.filter(reason=AdjudicationTask.Reason.LABEL_ERROR).first()
    review = NoiseReview.objects.get(task=task)
    qa_services.resolve_adjudication(task, reviewer, [review.suggested])
    after, _ = cut_snapshot(project)
    diff = diff_snapshots(before, after)
    assert diff.relabelled == diff.relabelled_in_review == 1
    (row,) = diff.relabelled_rows
    assert row["before"] == review.given and row["after"] == [review.suggested]
    assert row["review"] == AdjudicationTask.Reason.LABEL_ERROR and row["method"] == "adjudicated"
