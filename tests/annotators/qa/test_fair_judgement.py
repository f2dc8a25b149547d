"""QA judges fairly: leave-one-out agreement, ties left out, paused labels out, Wilson decisions.

Also the pause the policy writes: its reason follows the flags, and it is announced (after it
commits) so the queues release the paused member's leases.
"""

from __future__ import annotations

import pytest

from annotators.qa import gold, policies
from annotators.qa.consensus import compute_consensus
from annotators.qa.models import AnnotatorFlag, AnnotatorStats
from annotators.qa.policies import others_majority
from annotators.qa.signals import annotator_paused
from labelhub.projects.models import ProjectMembership
from labelhub.projects.signals import annotation_submitted
from tests import factories
from tests.annotators.qa.builders import label, simulate_crowd

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*(inplace|copy) keyword"),
]


def submit(item, annotator, labels):
    annotation = label(item, annotator, labels)
    annotation_submitted.send(sender=None, annotation=annotation, project=item.project)
    return annotation


def agreement(project, annotator) -> tuple[int, int]:
    stats = AnnotatorStats.objects.get(project=project, annotator=annotator)
    return stats.consensus_seen, stats.consensus_agreed


def flagged(project) -> set[int]:
    return set(
        AnnotatorFlag.objects.filter(project=project, resolved_at__isnull=True).values_list(
            "annotator_id", flat=True
        )
    )


# --- the others' majority ------------------------------------------------------------------


def test_the_others_majority_is_their_most_frequent_label():
    votes = [frozenset({"cat"}), frozenset({"cat"}), frozenset({"dog"})]
    assert others_majority(votes, multi_label=False) == frozenset({"cat"})


@pytest.mark.parametrize(
    "votes",
    [
        [],
        [frozenset({"cat"}), frozenset({"dog"})],
        [frozenset({"cat"}), frozenset({"dog"}), frozenset({"wolf"})],
    ],
)
def test_no_others_or_tied_others_give_no_majority(votes):
    assert others_majority(votes, multi_label=False) is None


def test_multi_label_majority_keeps_classes_most_others_chose_and_a_half_is_a_tie():
    votes = [frozenset({"cat", "dog"}), frozenset({"cat"}), frozenset({"cat", "dog"})]
    assert others_majority(votes, multi_label=True) == frozenset({"cat", "dog"})
    assert others_majority(votes[:2], multi_label=True) is None  # dog: one of two


# --- agreement counts ----------------------------------------------------------------------


@pytest.fixture
def agreement_project(db):
    return factories.make_project(qa_min_agreement=0.6, qa_min_count=5)


def test_when_the_others_tie_the_item_is_no_comparison(agreement_project):
    """Three annotators who each say something else: nobody is wrong against a tie."""
    first, second, third = (factories.make_member(agreement_project) for _ in range(3))
    for item in factories.make_items(agreement_project, 8):
        label(item, first, ["cat"])
        label(item, second, ["dog"])
        label(item, third, ["wolf"])
    compute_consensus(agreement_project, method="majority")
    policies.evaluate_project(agreement_project)
    assert [agreement(agreement_project, who) for who in (first, second, third)] == [(0, 0)] * 3
    assert flagged(agreement_project) == set()


def test_an_annotator_is_compared_with_the_others_not_with_their_own_vote(agreement_project):
    """cat, cat, dog: for each "cat" voter the others tie (cat, dog), so only "dog" is compared."""
    cat_a, cat_b, dog = (factories.make_member(agreement_project) for _ in range(3))
    for item in factories.make_items(agreement_project, 6):
        label(item, cat_a, ["cat"])
        label(item, cat_b, ["cat"])
        label(item, dog, ["dog"])
    compute_consensus(agreement_project, method="majority")
    policies.evaluate_project(agreement_project)
    assert agreement(agreement_project, cat_a) == (0, 0)
    assert agreement(agreement_project, cat_b) == (0, 0)
    assert agreement(agreement_project, dog) == (6, 0)
    assert flagged(agreement_project) == {dog.pk}


def test_paused_annotators_labels_do_not_count_in_the_others_majority(agreement_project):
    careful, colleague = factories.make_member(agreement_project), factories.make_member(agreement_project)
    paused = [factories.make_member(agreement_project) for _ in range(3)]
    ProjectMembership.objects.filter(user__in=paused).update(is_paused=True)
    for item in factories.make_items(agreement_project, 6):
        label(item, careful, ["cat"])
        label(item, colleague, ["cat"])
        for who in paused:
            label(item, who, ["dog"])
    compute_consensus(agreement_project, method="majority")
    policies.evaluate_project(agreement_project)
    assert agreement(agreement_project, careful) == (6, 6)
    assert careful.pk not in flagged(agreement_project)


def test_the_submit_path_counts_the_submitter_against_the_others(agreement_project):
    first, second, third = (factories.make_member(agreement_project) for _ in range(3))
    for item in factories.make_items(agreement_project, 3):
        submit(item, first, ["cat"])
        submit(item, second, ["cat"])
        submit(item, third, ["dog"])
    assert agreement(agreement_project, third) == (3, 0)  # the others: cat, cat
    # At its last check the others of "second" were cat, dog (a tie) on two items, cat on one.
    assert agreement(agreement_project, second) == (1, 1)


# --- decisions on the Wilson interval ---------------------------------------------------------


@pytest.mark.parametrize(("correct", "is_flagged"), [(6, False), (2, True)])
def test_gold_accuracy_fails_only_when_the_interval_lies_below_the_minimum(db, correct, is_flagged):
    """6/10 looks below 70% but its 95% interval reaches 83%; 2/10 reaches only 51%."""
    project = factories.make_project(qa_min_gold_accuracy=0.7, qa_min_count=10)
    annotator = factories.make_member(project)
    items = factories.make_items(project, 10)
    gold.mark_gold(project, [(item.pk, ["cat"]) for item in items])
    for index, item in enumerate(items):
        submit(item, annotator, ["cat"] if index < correct else ["dog"])
    assert (annotator.pk in flagged(project)) is is_flagged


def test_agreement_fails_only_when_the_interval_lies_below_the_minimum(db):
    project = factories.make_project(qa_min_agreement=0.75, qa_min_count=10)
    steady, unlucky, careless = (factories.make_member(project) for _ in range(3))
    for index, item in enumerate(factories.make_items(project, 10)):
        label(item, steady, ["cat"])
        label(item, factories.make_member(project), ["cat"])  # a fresh colleague per item
        label(item, unlucky, ["cat"] if index < 6 else ["dog"])  # 6/10: interval up to 83%
        label(item, careless, ["cat"] if index < 2 else ["wolf"])  # 2/10: up to 51%
    compute_consensus(project, method="majority")
    policies.evaluate_project(project)
    assert agreement(project, unlucky) == (10, 6)
    assert flagged(project) == {careless.pk}


def test_the_reason_gives_the_interval(db):
    project = factories.make_project(qa_min_gold_accuracy=0.7, qa_min_count=4)
    annotator = factories.make_member(project)
    items = factories.make_items(project, 4)
    gold.mark_gold(project, [(item.pk, ["cat"]) for item in items])
    for item in items:
        submit(item, annotator, ["dog"])
    assert (
        "(0/4, 95% CI 0.0%–49.0%) is below the project minimum of 70%" in AnnotatorFlag.objects.get().reason
    )


# --- a simulated crowd -----------------------------------------------------------------------

GOOD, BAD = 26, 4


def fair_crowd(seed: int, *, write: bool = True):
    """26 good annotators right 90% of the time, 4 bad ones right 40%; 3 labels per item, a third gold."""
    crowd = simulate_crowd(
        n_items=600,
        n_annotators=GOOD + BAD,
        bad_indices=tuple(range(GOOD, GOOD + BAD)),
        accuracy=[0.9] * GOOD + [0.4] * BAD,
        per_item=3,
        seed=seed,
        write=write,
        qa_min_count=10,
        qa_min_gold_accuracy=0.7,
        qa_min_agreement=0.6,
    )
    gold.mark_gold(crowd.project, [(item.pk, [crowd.truth[item.pk]]) for item in crowd.items[:200]])
    return crowd


def test_a_simulated_crowd_flags_the_bad_annotators_and_no_good_one(db):
    """With the point estimate and one's own vote in the consensus, seed 1 flagged a good one."""
    crowd = fair_crowd(seed=1)
    compute_consensus(crowd.project, method="majority")
    policies.evaluate_project(crowd.project)
    assert flagged(crowd.project) == {annotator.pk for annotator in crowd.bad}


@pytest.mark.slow
def test_a_simulated_crowd_submitted_label_by_label_flags_only_the_bad_annotators(db):
    """Checked after every label, the old rule flagged 4 of the 26 good annotators with seed 2."""
    crowd = fair_crowd(seed=2, write=False)
    for annotation in crowd.pending:
        annotation.save()
        annotation_submitted.send(sender=None, annotation=annotation, project=crowd.project)
    assert flagged(crowd.project) == {annotator.pk for annotator in crowd.bad}


# --- the pause -------------------------------------------------------------------------------


@pytest.fixture
def strict_project(db):
    return factories.make_project(
        qa_min_gold_accuracy=0.7, qa_min_agreement=0.6, qa_min_count=4, qa_pause_on_fail=True
    )


def answer_gold(project, annotator, correct: int, wrong: int):
    items = factories.make_items(project, correct + wrong, prefix=f"g{annotator.pk}-{correct}-{wrong}-")
    gold.mark_gold(project, [(item.pk, ["cat"]) for item in items])
    for index, item in enumerate(items):
        submit(item, annotator, ["cat"] if index < correct else ["dog"])


def paused_reason(project, annotator) -> str:
    return ProjectMembership.objects.get(project=project, user=annotator).paused_reason


def test_the_pause_reason_follows_the_flag_as_it_is_re_evaluated(strict_project):
    annotator = factories.make_member(strict_project)
    answer_gold(strict_project, annotator, correct=1, wrong=3)
    assert "gold accuracy 25% (1/4" in paused_reason(strict_project, annotator)
    answer_gold(strict_project, annotator, correct=0, wrong=2)
    flag = AnnotatorFlag.objects.get(annotator=annotator)
    assert "gold accuracy 17% (1/6" in flag.reason
    assert paused_reason(strict_project, annotator) == f"Paused by QA policy: {flag.reason}"


def test_resolving_one_of_two_flags_takes_its_reason_out_of_the_pause(strict_project, manager):
    annotator = factories.make_member(strict_project)
    answer_gold(strict_project, annotator, correct=0, wrong=4)
    for item in factories.make_items(strict_project, 4, prefix="shared"):
        label(item, factories.make_member(strict_project), ["cat"])
        label(item, factories.make_member(strict_project), ["cat"])
        submit(item, annotator, ["wolf"])
    agreement_flag = AnnotatorFlag.objects.get(annotator=annotator, kind=AnnotatorFlag.Kind.AGREEMENT)
    gold_flag = AnnotatorFlag.objects.get(annotator=annotator, kind=AnnotatorFlag.Kind.GOLD_ACCURACY)
    assert agreement_flag.reason in paused_reason(strict_project, annotator)

    policies.resolve_flag(agreement_flag, manager)

    membership = ProjectMembership.objects.get(project=strict_project, user=annotator)
    assert membership.is_paused
    assert membership.paused_reason == f"Paused by QA policy: {gold_flag.reason}"


def test_a_pause_written_by_a_manager_is_left_as_written(strict_project):
    annotator = factories.make_member(strict_project)
    answer_gold(strict_project, annotator, correct=0, wrong=4)
    ProjectMembership.objects.filter(user=annotator).update(paused_reason="Talk to Sam first")
    answer_gold(strict_project, annotator, correct=0, wrong=1)
    assert paused_reason(strict_project, annotator) == "Talk to Sam first"


def test_a_pause_is_announced_once_it_commits(strict_project, django_capture_on_commit_callbacks):
    annotator = factories.make_member(strict_project)
    heard = []

    def receiver(sender, *, project_id, user_id, **kwargs):
        heard.append((project_id, user_id))

    annotator_paused.connect(receiver, dispatch_uid="test-pause-heard")
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            answer_gold(strict_project, annotator, correct=0, wrong=4)
        assert heard == []  # not before the commit
        for callback in callbacks:
            callback()
    finally:
        annotator_paused.disconnect(dispatch_uid="test-pause-heard")
    assert heard == [(strict_project.pk, annotator.pk)]


def test_no_announcement_without_pause_on_fail(db, django_capture_on_commit_callbacks):
    project = factories.make_project(qa_min_count=4, qa_pause_on_fail=False)
    annotator = factories.make_member(project)
    heard = []
    annotator_paused.connect(lambda **kwargs: heard.append(kwargs), weak=False, dispatch_uid="test-no-pause")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            answer_gold(project, annotator, correct=0, wrong=4)
    finally:
        annotator_paused.disconnect(dispatch_uid="test-no-pause")
    assert AnnotatorFlag.objects.filter(annotator=annotator).exists() and heard == []
