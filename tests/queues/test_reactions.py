"""The submit outbox: reactions delivered once, retried whole after a failure, withdrawn by undo."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from annotators.qa.models import AnnotatorStats, ConsensusLabel, GoldItem
from labelhub.projects.signals import annotation_submitted
from labelhub.queues import reactions, services
from labelhub.queues.models import PendingReaction
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def quiet_project(db):
    return factories.make_project(gold_rate=0, overlap_fraction=0)


def deliver_with(receiver):
    """One delivery with ``receiver`` connected to ``annotation_submitted`` after QA's receiver."""
    annotation_submitted.connect(receiver, dispatch_uid="test-extra-receiver")
    try:
        return reactions.deliver()
    finally:
        annotation_submitted.disconnect(dispatch_uid="test-extra-receiver")


def label_one(project, user, labels=("cat",)):
    lease = services.lease_next_item(user, project)
    return services.submit_annotation(lease, list(labels), 2.0)


def test_inline_reactions_run_after_the_commit_and_leave_no_outbox_row(
    quiet_project, django_capture_on_commit_callbacks
):
    user = factories.make_member(quiet_project)
    factories.make_items(quiet_project, 2)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        annotation = label_one(quiet_project, user)
    # Inside the submit's transaction only the outbox row is written; QA has not run yet.
    assert PendingReaction.objects.filter(annotation=annotation).exists()
    assert not AnnotatorStats.objects.exists()
    for callback in callbacks:
        callback()
    assert not PendingReaction.objects.exists()
    assert AnnotatorStats.objects.get(annotator=user).annotations == 1
    assert ConsensusLabel.objects.get(item=annotation.item).labels == ["cat"]


def test_deferred_reactions_wait_for_delivery(quiet_project, settings, django_capture_on_commit_callbacks):
    settings.LABELHUB_REACTIONS = "deferred"
    user = factories.make_member(quiet_project)
    factories.make_items(quiet_project, 3)
    with django_capture_on_commit_callbacks(execute=True):
        first = label_one(quiet_project, user)
        second = label_one(quiet_project, user, ["dog"])
    assert PendingReaction.objects.count() == 2
    assert not AnnotatorStats.objects.exists()

    result = reactions.deliver()
    assert (result.delivered, result.failed) == (2, 0)
    assert not PendingReaction.objects.exists()
    assert AnnotatorStats.objects.get(annotator=user).annotations == 2
    assert ConsensusLabel.objects.get(item=second.item).labels == ["dog"]
    # Delivered once: a second delivery finds nothing and counts nothing twice.
    assert reactions.deliver().delivered == 0
    assert AnnotatorStats.objects.get(annotator=user).annotations == 2
    assert first.item_id != second.item_id


def test_a_failing_reaction_is_rolled_back_whole_and_retried(quiet_project, settings):
    settings.LABELHUB_REACTIONS = "deferred"
    user = factories.make_member(quiet_project)
    factories.make_items(quiet_project, 1)
    annotation = label_one(quiet_project, user)

    def broken(sender, **kwargs):
        raise RuntimeError("disk full")

    # Connected after QA's receiver: QA's writes of this delivery must be undone with it.
    result = deliver_with(broken)
    assert (result.delivered, result.failed) == (0, 1)
    row = PendingReaction.objects.get(annotation=annotation)
    assert row.attempts == 1 and "RuntimeError: disk full" in row.last_error
    assert not AnnotatorStats.objects.exists(), "half of a failed delivery was applied"
    assert not ConsensusLabel.objects.exists()

    assert reactions.deliver().delivered == 1
    assert AnnotatorStats.objects.get(annotator=user).annotations == 1


def test_a_reaction_that_keeps_failing_is_left_for_a_person(quiet_project, settings):
    settings.LABELHUB_REACTIONS = "deferred"
    user = factories.make_member(quiet_project)
    factories.make_items(quiet_project, 1)
    annotation = label_one(quiet_project, user)
    PendingReaction.objects.filter(annotation=annotation).update(attempts=reactions.MAX_ATTEMPTS)
    assert reactions.deliver().delivered == 0
    assert PendingReaction.objects.filter(annotation=annotation).exists()


def test_undo_before_delivery_withdraws_the_reactions(
    quiet_project, settings, django_capture_on_commit_callbacks
):
    settings.LABELHUB_REACTIONS = "deferred"
    user = factories.make_member(quiet_project)
    factories.make_items(quiet_project, 2)
    kept = label_one(quiet_project, user, ["dog"])
    reactions.deliver()
    undone = label_one(quiet_project, user, ["cat"])
    with django_capture_on_commit_callbacks(execute=True):
        services.undo_last_submit(user, quiet_project)
    assert not PendingReaction.objects.exists()
    # The undone label was never counted, so nothing is taken back out: only the kept one counts.
    assert AnnotatorStats.objects.get(annotator=user).annotations == 1
    assert not ConsensusLabel.objects.filter(item=undone.item).exists()
    assert ConsensusLabel.objects.get(item=kept.item).labels == ["dog"]


def test_undo_after_delivery_takes_the_label_back_out(quiet_project, django_capture_on_commit_callbacks):
    user = factories.make_member(quiet_project)
    items = factories.make_items(quiet_project, 1)
    GoldItem.objects.create(item=items[0], labels=["cat"])
    with django_capture_on_commit_callbacks(execute=True):
        label_one(quiet_project, user, ["cat"])
    stats = AnnotatorStats.objects.get(annotator=user)
    assert (stats.annotations, stats.gold_seen, stats.gold_correct) == (1, 1, 1)
    with django_capture_on_commit_callbacks(execute=True):
        services.undo_last_submit(user, quiet_project)
    stats.refresh_from_db()
    assert (stats.annotations, stats.gold_seen, stats.gold_correct) == (0, 0, 0)


def test_keep_queues_delivers_what_a_request_left_behind(quiet_project, django_capture_on_commit_callbacks):
    user = factories.make_member(quiet_project)
    factories.make_items(quiet_project, 1)
    # The request died between its commit and its reactions: the on-commit callback never ran.
    with django_capture_on_commit_callbacks(execute=False):
        annotation = label_one(quiet_project, user)
    assert PendingReaction.objects.filter(annotation=annotation).exists()
    # Inline reactions are left to their own request for a grace period first ...
    out = StringIO()
    call_command("keep_queues", stdout=out)
    assert "delivered 0 reaction(s)" in out.getvalue()
    # ... then the keeper takes them.
    PendingReaction.objects.update(created_at=annotation.created_at - reactions.INLINE_GRACE)
    out = StringIO()
    call_command("keep_queues", stdout=out)
    assert "delivered 1 reaction(s), 0 failed" in out.getvalue()
    assert AnnotatorStats.objects.get(annotator=user).annotations == 1


def test_keep_queues_tops_up_a_busy_queue_and_leaves_a_full_one(quiet_project, settings):
    settings.LABELHUB_QUEUE_LOW_WATER = 5
    user = factories.make_member(quiet_project)
    factories.make_items(quiet_project, 40)
    services.fill_queue(quiet_project, 3)
    services.lease_next_item(user, quiet_project)  # someone at work: 2 free slots left, below 5
    out = StringIO()
    call_command("keep_queues", stdout=out)
    assert "queued 8 item(s) in 1 project(s)" in out.getvalue()  # up to twice the low water: 2 + 8
    assert services.free_slots(quiet_project, up_to=100) == 10
    call_command("keep_queues", stdout=StringIO())
    assert services.free_slots(quiet_project, up_to=100) == 10


def test_an_idle_project_is_not_topped_up(quiet_project, settings):
    settings.LABELHUB_QUEUE_LOW_WATER = 5
    factories.make_items(quiet_project, 20)
    call_command("keep_queues", stdout=StringIO())
    assert services.free_slots(quiet_project, up_to=100) == 0


def test_once_per_batch_reactions_run_once_and_again_after_a_rolled_back_row(quiet_project, settings):
    settings.LABELHUB_REACTIONS = "deferred"
    user = factories.make_member(quiet_project)
    factories.make_items(quiet_project, 3)
    first, *_ = [label_one(quiet_project, user) for _ in range(3)]
    ran = []

    def project_wide(sender, annotation, project, **kwargs):
        if reactions.first_in_batch(("project-wide", project.pk)):
            ran.append(annotation.pk)
            if annotation.pk == first.pk:
                raise RuntimeError("first row fails after its once-per-batch work")

    result = deliver_with(project_wide)
    assert (result.delivered, result.failed) == (2, 1)
    # The failed row's work was rolled back, so the next row of the batch does it; then no more.
    assert len(ran) == 2 and ran[0] == first.pk
    assert reactions.first_in_batch("outside a batch") and reactions.first_in_batch("outside a batch")


def test_keep_queues_survives_a_failing_tick_and_goes_on(quiet_project, settings, monkeypatch):
    settings.LABELHUB_REACTIONS = "deferred"
    user = factories.make_member(quiet_project)
    factories.make_items(quiet_project, 1)
    label_one(quiet_project, user)
    real_deliver_due, calls = reactions.deliver_due, []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("database restarting")
        return real_deliver_due(**kwargs)

    monkeypatch.setattr(reactions, "deliver_due", flaky)
    # Keep the test's connection and transaction: the keeper drops connections between ticks.
    monkeypatch.setattr("django.db.connections.close_all", lambda: None)
    monkeypatch.setattr("labelhub.queues.management.commands.keep_queues.close_old_connections", lambda: None)
    out = StringIO()
    call_command("keep_queues", "--every", "0.01", "--ticks", "2", stdout=out)
    assert "delivered 1 reaction(s), 0 failed" in out.getvalue()
    assert AnnotatorStats.objects.get(annotator=user).annotations == 1
