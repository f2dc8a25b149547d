"""QA policies: flagging, pausing and review of annotators below the project's thresholds."""

from __future__ import annotations

import pytest

from annotators.qa import gold, policies
from annotators.qa.consensus import compute_consensus
from annotators.qa.models import AdjudicationTask, AnnotatorFlag
from labelhub.projects.models import ProjectMembership
from labelhub.projects.signals import annotation_submitted
from tests import factories
from tests.annotators.qa.builders import (
    label,
    simulate_crowd,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*(inplace|copy) keyword"),
]


def submit(item, annotator, labels):
    annotation = label(item, annotator, labels)
    annotation_submitted.send(sender=None, annotation=annotation, project=item.project)
    return annotation


@pytest.fixture
def strict_project(db):
    return factories.make_project(qa_min_gold_accuracy=0.7, qa_min_count=4, qa_pause_on_fail=True)


def answer_gold(project, annotator, correct: int, wrong: int):
    items = factories.make_items(project, correct + wrong, prefix=f"g{annotator.pk}")
    gold.mark_gold(project, [(i.pk, ["cat"]) for i in items])
    for i, item in enumerate(items):
        submit(item, annotator, ["cat"] if i < correct else ["dog"])
    return items


def test_no_flag_before_the_minimum_count(strict_project):
    annotator = factories.make_member(strict_project)
    answer_gold(strict_project, annotator, correct=0, wrong=3)
    assert not AnnotatorFlag.objects.exists()


def test_low_gold_accuracy_flags_with_the_reason(strict_project):
    annotator = factories.make_member(strict_project)
    answer_gold(strict_project, annotator, correct=1, wrong=3)
    flag = AnnotatorFlag.objects.get(annotator=annotator)
    assert flag.kind == AnnotatorFlag.Kind.GOLD_ACCURACY
    assert "gold accuracy 25% (1/4" in flag.reason and "minimum of 70%" in flag.reason
    assert (flag.value, flag.threshold, flag.sample_size) == (0.25, 0.7, 4)


def test_pause_on_fail_pauses_and_sends_recent_labels_to_review(strict_project):
    annotator = factories.make_member(strict_project)
    items = answer_gold(strict_project, annotator, correct=1, wrong=3)
    membership = ProjectMembership.objects.get(project=strict_project, user=annotator)
    assert membership.is_paused and "gold accuracy 25%" in membership.paused_reason
    reviewed = set(AdjudicationTask.objects.filter(reason="policy").values_list("item_id", flat=True))
    assert reviewed == {i.pk for i in items}
    assert AnnotatorFlag.objects.get(annotator=annotator).sent_to_review == 4


def test_without_pause_on_fail_the_annotator_is_only_flagged(db):
    project = factories.make_project(qa_min_count=4, qa_pause_on_fail=False)
    annotator = factories.make_member(project)
    answer_gold(project, annotator, correct=0, wrong=4)
    assert AnnotatorFlag.objects.filter(annotator=annotator).exists()
    assert not ProjectMembership.objects.get(project=project, user=annotator).is_paused
    assert not AdjudicationTask.objects.exists()


def test_repeated_failures_keep_one_open_flag(strict_project):
    annotator = factories.make_member(strict_project)
    answer_gold(strict_project, annotator, correct=0, wrong=6)
    assert AnnotatorFlag.objects.filter(annotator=annotator, resolved_at__isnull=True).count() == 1
    assert AnnotatorFlag.objects.get(annotator=annotator).sample_size == 6


def test_resolving_the_last_flag_unpauses(strict_project, manager):
    annotator = factories.make_member(strict_project)
    answer_gold(strict_project, annotator, correct=0, wrong=4)
    policies.resolve_flag(AnnotatorFlag.objects.get(annotator=annotator), manager)
    membership = ProjectMembership.objects.get(project=strict_project, user=annotator)
    assert not membership.is_paused and membership.paused_reason == ""


def test_low_agreement_with_consensus_flags(db):
    project = factories.make_project(qa_min_agreement=0.6, qa_min_count=5)
    items = factories.make_items(project, 6)
    careful = [factories.make_member(project) for _ in range(2)]
    contrarian = factories.make_member(project)
    for item in items:
        for who in careful:
            label(item, who, ["cat"])
        label(item, contrarian, ["dog"])
    compute_consensus(project, method="majority")
    policies.evaluate_project(project)
    flag = AnnotatorFlag.objects.get()
    assert flag.annotator == contrarian and flag.kind == AnnotatorFlag.Kind.AGREEMENT
    assert "agreement with consensus 0% (0/6" in flag.reason


def test_evaluate_project_flags_both_planted_bad_annotators(db):
    crowd = simulate_crowd(qa_min_gold_accuracy=0.5, qa_min_agreement=0.5, qa_min_count=10)
    gold.mark_gold(crowd.project, [(i.pk, [crowd.truth[i.pk]]) for i in crowd.items[:60]])
    compute_consensus(crowd.project, method="dawid_skene")
    policies.evaluate_project(crowd.project)
    flagged = set(
        AnnotatorFlag.objects.filter(resolved_at__isnull=True).values_list("annotator_id", flat=True)
    )
    assert flagged == {a.pk for a in crowd.bad}
    kinds = set(AnnotatorFlag.objects.values_list("kind", flat=True))
    assert kinds == {AnnotatorFlag.Kind.GOLD_ACCURACY, AnnotatorFlag.Kind.AGREEMENT}


@pytest.mark.slow
def test_submitting_a_crowd_label_by_label_pauses_both_bad_annotators(db):
    crowd = simulate_crowd(
        write=False, qa_min_gold_accuracy=0.5, qa_min_agreement=0.5, qa_min_count=10, qa_pause_on_fail=True
    )
    gold.mark_gold(crowd.project, [(i.pk, [crowd.truth[i.pk]]) for i in crowd.items[:60]])
    for annotation in crowd.pending:
        annotation.save()
        annotation_submitted.send(sender=None, annotation=annotation, project=crowd.project)
    paused = set(
        ProjectMembership.objects.filter(project=crowd.project, is_paused=True).values_list(
            "user_id", flat=True
        )
    )
    assert paused == {a.pk for a in crowd.bad}


def test_the_policy_is_rechecked_only_when_a_label_moves_its_inputs(db, monkeypatch):
    """A plain single-annotator label changes neither gold accuracy nor consensus agreement."""
    from annotators.qa import services as qa_services

    project = factories.make_project()
    first, second = factories.make_member(project), factories.make_member(project)
    plain, shared, golden = factories.make_items(project, 3)
    gold.mark_gold(project, [(golden.pk, ["cat"])])
    checked = []
    monkeypatch.setattr(qa_services, "evaluate_annotator", lambda project, who: checked.append(who))

    submit(plain, first, ["cat"])
    assert checked == []
    submit(shared, first, ["cat"])
    assert checked == []  # one label on the item so far: no agreement to compare
    submit(shared, second, ["dog"])
    assert checked == [second.pk]
    submit(golden, first, ["dog"])
    assert checked == [second.pk, first.pk]
