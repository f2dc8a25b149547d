"""QA policies: does an annotator still meet the project's thresholds, and what happens if not.

A project sets ``qa_min_gold_accuracy`` and ``qa_min_agreement`` (agreement with the consensus of
items labelled by 2+ annotators), applied once the annotator has ``qa_min_count`` checks of that
kind. Falling below opens a flag with the reason; with ``qa_pause_on_fail`` the annotator is also
paused (the queue serves paused members nothing) and their recent labels go to adjudication.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from annotators.qa.adjudication import send_for_review
from annotators.qa.errors import AlreadyResolved
from annotators.qa.gold import is_correct, rebuild_stats, wilson_interval
from annotators.qa.models import AdjudicationTask, AnnotatorFlag, AnnotatorStats
from labelhub.projects.models import Annotation, Project, ProjectMembership

RECENT_FOR_REVIEW = 50  # a paused annotator's latest labels a reviewer re-checks


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
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def consensus_agreement_counts(
    project: Project, annotator_id: int | None = None
) -> dict[int, tuple[int, int]]:
    """``{annotator_id: (items compared, items agreeing)}`` against multi-annotator consensus.

    Only items with 2+ annotators count: a single label trivially "agrees" with itself.
    """
    rows = Annotation.objects.filter(
        item__project=project,
        retracted_at__isnull=True,
        annotator__isnull=False,
        item__consensus__annotator_count__gte=2,
    )
    if annotator_id is not None:
        rows = rows.filter(annotator_id=annotator_id)  # the submit path: one annotator's items only
    counts: dict[int, list[int]] = {}
    for who, labels, consensus in rows.values_list(
        "annotator_id", "labels", "item__consensus__labels"
    ).iterator(chunk_size=5000):
        pair = counts.setdefault(who, [0, 0])
        pair[0] += 1
        pair[1] += int(is_correct(labels, consensus))
    return {who: (seen, agreed) for who, (seen, agreed) in counts.items()}


def evaluate(project: Project, stats: AnnotatorStats) -> Evaluation:
    """Compare one annotator's counters with the project's thresholds (no side effects)."""
    result = Evaluation(
        annotator_id=stats.annotator_id,
        gold_seen=stats.gold_seen,
        gold_correct=stats.gold_correct,
        consensus_seen=stats.consensus_seen,
        consensus_agreed=stats.consensus_agreed,
    )
    minimum = max(project.qa_min_count, 1)
    if stats.gold_seen >= minimum and stats.gold_accuracy < project.qa_min_gold_accuracy:
        low, high = wilson_interval(stats.gold_correct, stats.gold_seen)
        result.failures.append(
            Failure(
                AnnotatorFlag.Kind.GOLD_ACCURACY,
                stats.gold_accuracy,
                project.qa_min_gold_accuracy,
                stats.gold_seen,
                f"gold accuracy {stats.gold_accuracy:.0%} ({stats.gold_correct}/{stats.gold_seen}, "
                f"95% CI {low:.0%}–{high:.0%}) is below the project minimum of "
                f"{project.qa_min_gold_accuracy:.0%}",
            )
        )
    if stats.consensus_seen >= minimum and stats.consensus_agreement < project.qa_min_agreement:
        result.failures.append(
            Failure(
                AnnotatorFlag.Kind.AGREEMENT,
                stats.consensus_agreement,
                project.qa_min_agreement,
                stats.consensus_seen,
                f"agreement with consensus {stats.consensus_agreement:.0%} "
                f"({stats.consensus_agreed}/{stats.consensus_seen} shared items) is below the project "
                f"minimum of {project.qa_min_agreement:.0%}",
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
    if newly_failed and project.qa_pause_on_fail:
        reason = "; ".join(f.reason for f in evaluation.failures)
        ProjectMembership.objects.filter(project=project, user_id=evaluation.annotator_id).update(
            is_paused=True, paused_reason=f"Paused by QA policy: {reason}"
        )
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
    return flags


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
    """The on-submit check: refresh this annotator's consensus agreement, then apply the policy."""
    stats, _ = AnnotatorStats.objects.get_or_create(project=project, annotator_id=annotator_id)
    _refresh_agreement(project, [stats], annotator_id)
    evaluation = evaluate(project, stats)
    return evaluation, apply(project, evaluation)


def evaluate_project(project: Project) -> list[tuple[Evaluation, list[AnnotatorFlag]]]:
    """On demand: recount every annotator from the annotations, then apply the policy to each."""
    stats_rows = rebuild_stats(project)
    _refresh_agreement(project, stats_rows, None)
    results = []
    for stats in stats_rows:
        evaluation = evaluate(project, stats)
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
    if unpause and not still_open:
        ProjectMembership.objects.filter(project_id=flag.project_id, user_id=flag.annotator_id).update(
            is_paused=False, paused_reason=""
        )
    return flag
