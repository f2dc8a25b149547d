"""QA policies: does an annotator still meet the project's thresholds, and what happens if not.

A project sets ``qa_min_gold_accuracy`` and ``qa_min_agreement``, applied once the annotator has
``qa_min_count`` checks of that kind. Falling below opens a flag with the reason; with
``qa_pause_on_fail`` the annotator is also paused (the queue serves paused members nothing, and
:data:`~annotators.qa.signals.annotator_paused` has their leases released) and their recent labels
go to adjudication.

The judgement is meant to be fair to a good annotator who had bad luck:
- agreement compares each label with the majority of the *other* annotators of the item
  (leave-one-out: one's own vote never props up or drags down one's score), counts nothing where
  the others tie, and ignores the labels of paused annotators in the others' majority;
- a rate fails only when the upper bound of its 95% Wilson interval is below the threshold, so
  ``qa_min_count`` checks that merely *look* low by chance do not flag anyone;
- labels a reviewer found wrong in label-error review (a suspected label error fixed to another
  label) count against the annotator out of *all* their labels, unreviewed ones counted right, held
  to the gold threshold: review looks only at suspects, so the share wrong among reviewed labels
  would condemn everyone whose labels were looked at. It applies once ``qa_min_count`` of the
  annotator's labels were reviewed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from annotators.qa.adjudication import send_for_review
from annotators.qa.errors import AlreadyResolved
from annotators.qa.gold import rebuild_stats, wilson_interval
from annotators.qa.models import AdjudicationTask, AnnotatorFlag, AnnotatorStats
from annotators.qa.signals import announce_pause
from labelhub.projects.models import Annotation, Project, ProjectMembership

RECENT_FOR_REVIEW = 50  # a paused annotator's latest labels a reviewer re-checks
QA_PAUSE_PREFIX = "Paused by QA policy: "  # marks a pause as the policy's (a manager's reads otherwise)


@dataclass
class Failure:
    kind: str
    value: float
    threshold: float
    sample_size: int
    reason: str


@dataclass
class Evaluation:
    annotator_id: int
    gold_seen: int
    gold_correct: int
    consensus_seen: int
    consensus_agreed: int
    review_seen: int = 0  # the annotator's labels reviewed as suspected label errors
    review_wrong: int = 0  # of those, the ones the reviewer changed
    annotations: int = 0
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def others_majority(votes: Iterable[frozenset[str]], *, multi_label: bool) -> frozenset[str] | None:
    """The majority label of the other annotators' ``votes`` on an item; None if none or tied.

    Single-label: the most frequent label set, None when two sets share the top count.
    Multi-label: the classes more than half of them chose, None when any class has exactly half
    (the same rules as :func:`annotators.qa.consensus.majority_vote`, whose ties go to review).
    """
    votes = list(votes)
    if not votes:
        return None
    if multi_label:
        chosen = Counter(name for vote in votes for name in vote)
        if any(count * 2 == len(votes) for count in chosen.values()):
            return None
        return frozenset(name for name, count in chosen.items() if count * 2 > len(votes))
    ranked = Counter(votes).most_common(2)
    if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def consensus_agreement_counts(
    project: Project, annotator_id: int | None = None
) -> dict[int, tuple[int, int]]:
    """``{annotator_id: (items compared, items agreeing)}`` with the others' majority (leave-one-out).

    Each annotator's latest label of an item is compared with the majority of the other
    annotators' latest labels, paused annotators left out of it; an item where the others tie,
    or where nobody else counts, is no comparison at all. Only items whose consensus has 2+
    annotators can give one. With ``annotator_id`` (the submit path) only that annotator is
    counted, reading the labels of the items they labelled and nothing else.
    """
    paused = set(
        ProjectMembership.objects.filter(project=project, is_paused=True).values_list("user_id", flat=True)
    )
    rows = Annotation.objects.filter(
        item__project=project,
        retracted_at__isnull=True,
        annotator__isnull=False,
        item__consensus__annotator_count__gte=2,
    )
    if annotator_id is not None:
        theirs = Annotation.objects.filter(
            item__project=project, annotator_id=annotator_id, retracted_at__isnull=True
        ).values("item_id")
        rows = rows.filter(item_id__in=theirs)
    counts: dict[int, list[int]] = {}

    def compare(votes: dict[int, frozenset[str]]) -> None:
        judged = votes if annotator_id is None else {annotator_id: votes.get(annotator_id)}
        for who, vote in judged.items():
            if vote is None:
                continue
            others = (v for other, v in votes.items() if other != who and other not in paused)
            majority = others_majority(others, multi_label=project.multi_label)
            if majority is not None:
                pair = counts.setdefault(who, [0, 0])
                pair[0] += 1
                pair[1] += int(vote == majority)

    current_item, votes = None, {}
    ordered = rows.order_by("item_id", "id").values_list("item_id", "annotator_id", "labels")
    for item_id, who, labels in ordered.iterator(chunk_size=5000):
        if item_id != current_item:
            if votes:
                compare(votes)
            current_item, votes = item_id, {}
        votes[who] = frozenset(str(name) for name in labels or [])  # by id: the latest label wins
    if votes:
        compare(votes)
    return {who: (seen, agreed) for who, (seen, agreed) in counts.items()}


def fails(correct: int, seen: int, threshold: float) -> tuple[float, float] | None:
    """The 95% Wilson interval of ``correct / seen`` when it lies wholly below ``threshold``.

    None (a pass) when even its upper bound reaches the threshold: with few checks a good
    annotator's rate often dips below by chance, and the point estimate alone would flag them.
    """
    interval = wilson_interval(correct, seen)
    return interval if interval is not None and interval[1] < threshold else None


def review_error_counts(project: Project, annotator_id: int | None = None) -> dict[int, tuple[int, int]]:
    """``{annotator_id: (labels reviewed, labels found wrong)}`` from resolved label-error reviews.

    Each resolved ``label_error`` task with a final label compares every annotator's countable
    label of the item with it; an ambiguous outcome (no final label) judges nobody.
    """
    tasks = AdjudicationTask.objects.filter(
        project=project,
        reason=AdjudicationTask.Reason.LABEL_ERROR,
        status=AdjudicationTask.Status.RESOLVED,
        resolved_labels__isnull=False,
    ).order_by("item_id", "resolved_at", "id")
    final = {
        item_id: frozenset(labels) for item_id, labels in tasks.values_list("item_id", "resolved_labels")
    }
    if not final:
        return {}
    rows = Annotation.objects.filter(
        item_id__in=list(final), retracted_at__isnull=True, annotator__isnull=False
    )
    if annotator_id is not None:
        rows = rows.filter(annotator_id=annotator_id)
    latest: dict[tuple[int, int], frozenset[str]] = {}
    for item_id, who, labels in rows.order_by("item_id", "id").values_list(
        "item_id", "annotator_id", "labels"
    ):
        latest[(item_id, who)] = frozenset(str(name) for name in labels or [])
    counts: dict[int, list[int]] = {}
    for (item_id, who), labels in latest.items():
        pair = counts.setdefault(who, [0, 0])
        pair[0] += 1
        pair[1] += int(labels != final[item_id])
    return {who: (seen, wrong) for who, (seen, wrong) in counts.items()}


def evaluate(project: Project, stats: AnnotatorStats, review: tuple[int, int] = (0, 0)) -> Evaluation:
    """Compare one annotator's counters (and ``review``: labels reviewed, found wrong) with the
    project's thresholds (no side effects)."""
    result = Evaluation(
        annotator_id=stats.annotator_id,
        gold_seen=stats.gold_seen,
        gold_correct=stats.gold_correct,
        consensus_seen=stats.consensus_seen,
        consensus_agreed=stats.consensus_agreed,
        review_seen=review[0],
        review_wrong=review[1],
        annotations=stats.annotations,
    )
    minimum = max(project.qa_min_count, 1)
    threshold = project.qa_min_gold_accuracy
    interval = fails(stats.gold_correct, stats.gold_seen, threshold) if stats.gold_seen >= minimum else None
    if interval is not None:
        result.failures.append(
            Failure(
                AnnotatorFlag.Kind.GOLD_ACCURACY,
                stats.gold_accuracy,
                threshold,
                stats.gold_seen,
                f"gold accuracy {stats.gold_accuracy:.0%} ({stats.gold_correct}/{stats.gold_seen}, "
                f"95% CI {interval[0]:.1%}–{interval[1]:.1%}) is below the project minimum of {threshold:.0%}",
            )
        )
    threshold = project.qa_min_agreement
    seen, agreed = stats.consensus_seen, stats.consensus_agreed
    interval = fails(agreed, seen, threshold) if seen >= minimum else None
    if interval is not None:
        result.failures.append(
            Failure(
                AnnotatorFlag.Kind.AGREEMENT,
                stats.consensus_agreement,
                threshold,
                seen,
                f"agreement with consensus {stats.consensus_agreement:.0%} ({agreed}/{seen} items "
                f"compared with the other annotators' majority, 95% CI {interval[0]:.1%}–{interval[1]:.1%}) "
                f"is below the project minimum of {threshold:.0%}",
            )
        )
    reviewed, wrong = review
    labels = max(stats.annotations, reviewed)
    threshold = project.qa_min_gold_accuracy
    interval = fails(labels - wrong, labels, threshold) if reviewed >= minimum and wrong else None
    if interval is not None:
        result.failures.append(
            Failure(
                AnnotatorFlag.Kind.REVIEW_ERRORS,
                (labels - wrong) / labels,
                threshold,
                labels,
                f"{wrong} of {labels} labels were found wrong in label-error review ({reviewed} reviewed); "
                f"accuracy counting unreviewed labels as right {(labels - wrong) / labels:.0%} "
                f"(95% CI {interval[0]:.1%}–{interval[1]:.1%}) is below the project minimum of {threshold:.0%}",
            )
        )
    return result


@transaction.atomic
def apply(project: Project, evaluation: Evaluation) -> list[AnnotatorFlag]:
    """Open or refresh a flag per failure; pause and send labels for review on a new failure."""
    if evaluation.passed:
        return []
    open_flags = {
        f.kind: f
        for f in AnnotatorFlag.objects.select_for_update().filter(
            project=project, annotator_id=evaluation.annotator_id, resolved_at__isnull=True
        )
    }
    flags = []
    newly_failed = []
    for failure in evaluation.failures:
        flag = open_flags.get(failure.kind)
        if flag is None:
            flag = AnnotatorFlag(project=project, annotator_id=evaluation.annotator_id, kind=failure.kind)
            newly_failed.append(failure)
        flag.reason, flag.value = failure.reason, failure.value
        flag.threshold, flag.sample_size = failure.threshold, failure.sample_size
        flags.append(flag)
    pause = bool(newly_failed) and project.qa_pause_on_fail
    if pause:
        recent = list(
            Annotation.objects.filter(
                item__project=project, annotator_id=evaluation.annotator_id, retracted_at__isnull=True
            )
            .order_by("-created_at", "-id")
            .values_list("item_id", flat=True)[:RECENT_FOR_REVIEW]
        )
        sent = send_for_review(
            project,
            recent,
            reason=AdjudicationTask.Reason.POLICY,
            detail="An annotator of this item was flagged by a QA policy; re-check the label.",
        )
        for flag in flags:
            if flag.pk is None:
                flag.paused, flag.sent_to_review = True, sent
    for flag in flags:
        flag.save()
    write_pause(project.pk, evaluation.annotator_id, pause=pause)
    return flags


def pause_reason(flag_reasons: Iterable[str]) -> str:
    """What a QA-paused member (and the 403 of their "next") reads: their open flags' reasons."""
    return QA_PAUSE_PREFIX + "; ".join(flag_reasons)


def write_pause(project_id: int, annotator_id: int, *, pause: bool = False) -> None:
    """The one place a QA pause is written: its reason is always the open flags' reasons, now.

    ``pause=True`` pauses the member and, once that commits, announces it (the queues release
    their leases). Otherwise a member the policy paused gets the reason refreshed, so it follows
    the flags as they are re-evaluated or resolved; a pause a manager wrote by hand (without the
    policy's prefix) is left as they wrote it.
    """
    order = list(AnnotatorFlag.Kind)
    reasons = [
        reason
        for _, reason in sorted(
            AnnotatorFlag.objects.filter(
                project_id=project_id, annotator_id=annotator_id, resolved_at__isnull=True
            ).values_list("kind", "reason"),
            key=lambda row: order.index(row[0]),
        )
    ]
    membership = ProjectMembership.objects.filter(project_id=project_id, user_id=annotator_id)
    if pause:
        if membership.update(is_paused=True, paused_reason=pause_reason(reasons)):
            announce_pause(project_id, annotator_id)
    elif reasons:
        membership.filter(is_paused=True, paused_reason__startswith=QA_PAUSE_PREFIX).update(
            paused_reason=pause_reason(reasons)
        )


def _refresh_agreement(project: Project, stats_rows: list[AnnotatorStats], annotator_id: int | None) -> None:
    counts = consensus_agreement_counts(project, annotator_id)
    now = timezone.now()
    for stats in stats_rows:
        stats.consensus_seen, stats.consensus_agreed = counts.get(stats.annotator_id, (0, 0))
        stats.last_evaluated_at = now
    AnnotatorStats.objects.bulk_update(
        stats_rows, ["consensus_seen", "consensus_agreed", "last_evaluated_at"], batch_size=1000
    )


def evaluate_annotator(project: Project, annotator_id: int) -> tuple[Evaluation, list[AnnotatorFlag]]:
    """The on-submit check: refresh this annotator's consensus agreement, then apply the policy.

    It recounts the submitter only, over the items they labelled: a later label by someone else
    changes their leave-one-out figures too, which their own next check or ``evaluate_project``
    picks up (each recount is complete, never a delta that could drift).
    """
    stats, _ = AnnotatorStats.objects.get_or_create(project=project, annotator_id=annotator_id)
    _refresh_agreement(project, [stats], annotator_id)
    review = review_error_counts(project, annotator_id).get(annotator_id, (0, 0))
    evaluation = evaluate(project, stats, review)
    return evaluation, apply(project, evaluation)


def evaluate_project(project: Project) -> list[tuple[Evaluation, list[AnnotatorFlag]]]:
    """On demand: recount every annotator from the annotations, then apply the policy to each."""
    stats_rows = rebuild_stats(project)
    _refresh_agreement(project, stats_rows, None)
    reviews = review_error_counts(project)
    results = []
    for stats in stats_rows:
        evaluation = evaluate(project, stats, reviews.get(stats.annotator_id, (0, 0)))
        results.append((evaluation, apply(project, evaluation)))
    return results


@transaction.atomic
def resolve_flag(flag: AnnotatorFlag, user, *, unpause: bool = True) -> AnnotatorFlag:
    """A manager closes a flag; the annotator is unpaused when no other flag stays open.

    A flag closed before (by someone else meanwhile, too) is :class:`AlreadyResolved`.
    """
    current = AnnotatorFlag.objects.select_for_update().get(pk=flag.pk)
    if current.resolved_at is not None:
        raise AlreadyResolved(f"flag {flag.pk} is already resolved.", field="flag")
    flag.resolved_at = timezone.now()
    flag.resolved_by = user
    flag.save(update_fields=["resolved_at", "resolved_by"])
    still_open = AnnotatorFlag.objects.filter(
        project_id=flag.project_id, annotator_id=flag.annotator_id, resolved_at__isnull=True
    ).exists()
    if still_open:
        write_pause(flag.project_id, flag.annotator_id)  # the closed flag's reason leaves the pause
    elif unpause:
        ProjectMembership.objects.filter(project_id=flag.project_id, user_id=flag.annotator_id).update(
            is_paused=False, paused_reason=""
        )
    return flag
