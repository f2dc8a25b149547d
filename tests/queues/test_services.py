"""The queue services: leasing, overlap, expiry, submit validation, skip/flag/undo, gold, gates."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from annotators.qa.models import GoldItem
from labelhub.guidelines.errors import GuidelineAckRequired
from labelhub.guidelines.models import GuidelineAcknowledgement, GuidelineVersion
from labelhub.projects.labels import InvalidLabels
from labelhub.projects.models import Annotation, ProjectMembership
from labelhub.projects.signals import annotation_submitted
from labelhub.queues import services
from labelhub.queues.models import ItemFlag, Lease, QueueEntry
from labelhub.queues.services import expiry
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def quiet_project(db):
    """No gold, no overlap: every test opts into what it checks."""
    return factories.make_project(gold_rate=0, overlap_fraction=0)


def queue(project, items, **kwargs):
    services.enqueue_items(
        project, [(item.pk, float(-i)) for i, item in enumerate(items)], reason="random", **kwargs
    )


def test_next_serves_entries_in_priority_order(quiet_project):
    user = factories.make_member(quiet_project)
    items = factories.make_items(quiet_project, 3)
    services.enqueue_items(
        quiet_project, [(items[0].pk, 1.0), (items[1].pk, 5.0), (items[2].pk, 3.0)], reason="active"
    )
    served = [services.lease_next_item(user, quiet_project).entry.item_id for _ in range(3)]
    assert served == [items[1].pk, items[2].pk, items[0].pk]


def test_an_entry_needing_one_annotation_is_leased_once(quiet_project):
    first, second = factories.make_member(quiet_project), factories.make_member(quiet_project)
    items = factories.make_items(quiet_project, 1)
    queue(quiet_project, items)
    assert services.lease_next_item(first, quiet_project).entry.item_id == items[0].pk
    # The only other items come from a fill, which has nothing left: the one item is taken.
    assert services.lease_next_item(second, quiet_project) is None


def test_overlap_entry_goes_to_required_number_of_distinct_annotators(quiet_project):
    users = [factories.make_member(quiet_project) for _ in range(4)]
    items = factories.make_items(quiet_project, 1)
    queue(quiet_project, items, required_annotations=3)
    leases = [services.lease_next_item(user, quiet_project) for user in users]
    assert [lease is not None for lease in leases] == [True, True, True, False]
    assert len({lease.annotator_id for lease in leases[:3]}) == 3


def test_never_serves_an_item_to_someone_who_labelled_it(quiet_project):
    user = factories.make_member(quiet_project)
    items = factories.make_items(quiet_project, 2)
    queue(quiet_project, items, required_annotations=2)
    Annotation.objects.create(item=items[0], annotator=user, labels=["cat"])
    lease = services.lease_next_item(user, quiet_project)
    assert lease.entry.item_id == items[1].pk
    services.submit_annotation(lease, ["dog"])
    assert services.lease_next_item(user, quiet_project) is None


def test_prefetch_leases_several_distinct_items(quiet_project):
    user = factories.make_member(quiet_project)
    queue(quiet_project, factories.make_items(quiet_project, 5))
    leases = services.lease_next_items(user, quiet_project, 3)
    assert len({lease.entry.item_id for lease in leases}) == 3
    more = services.lease_next_items(user, quiet_project, 3)
    assert {lease.entry.item_id for lease in more}.isdisjoint({lease.entry.item_id for lease in leases})
    assert len(more) == 2


def test_empty_queue_is_filled_with_unlabelled_items(quiet_project):
    user = factories.make_member(quiet_project)
    items = factories.make_items(quiet_project, 4)
    Annotation.objects.create(item=items[0], annotator=factories.make_user(), labels=["cat"])
    served = {lease.entry.item_id for lease in services.lease_next_items(user, quiet_project, 10)}
    assert served == {item.pk for item in items[1:]}
    assert set(QueueEntry.objects.values_list("reason", flat=True)) == {"random"}


def test_fill_sends_the_overlap_share_to_several_annotators():
    project = factories.make_project(gold_rate=0, overlap_fraction=0.25, overlap_annotators=3)
    factories.make_items(project, 40)
    added = services.fill_queue(project, 40, rng=random.Random(1))
    assert added == 40
    overlap = QueueEntry.objects.filter(reason="overlap")
    assert overlap.count() == 10
    assert set(overlap.values_list("required_annotations", flat=True)) == {3}
    assert set(
        QueueEntry.objects.exclude(reason="overlap").values_list("required_annotations", flat=True)
    ) == {1}


def test_expired_lease_returns_the_item_to_the_queue(quiet_project):
    first, second = factories.make_member(quiet_project), factories.make_member(quiet_project)
    items = factories.make_items(quiet_project, 1)
    queue(quiet_project, items)
    lease = services.lease_next_item(first, quiet_project)
    Lease.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    again = services.lease_next_item(second, quiet_project)
    assert again.entry_id == lease.entry_id
    lease.refresh_from_db()
    assert lease.release_reason == "expired"


def test_expire_leases_announces_the_expired_lease_ids(
    quiet_project, monkeypatch, django_capture_on_commit_callbacks
):
    user = factories.make_member(quiet_project)
    queue(quiet_project, factories.make_items(quiet_project, 1))
    lease = services.lease_next_item(user, quiet_project)
    sent = []
    monkeypatch.setattr(expiry, "announce_queue_update", lambda pid, **details: sent.append((pid, details)))
    with django_capture_on_commit_callbacks(execute=True):
        expired = services.expire_leases(
            now=timezone.now() + timedelta(minutes=quiet_project.lease_minutes + 1)
        )
    assert [e.lease_id for e in expired] == [lease.pk]
    assert sent == [
        (quiet_project.pk, {"reason": "leases_expired", "expired_leases": [lease.pk], "returned": 1})
    ]
    assert QueueEntry.objects.get().leased_count == 0


def test_lease_length_follows_the_project_setting():
    project = factories.make_project(gold_rate=0, overlap_fraction=0, lease_minutes=3)
    user = factories.make_member(project)
    queue(project, factories.make_items(project, 1))
    lease = services.lease_next_item(user, project)
    assert timedelta(minutes=2, seconds=58) < lease.expires_at - timezone.now() <= timedelta(minutes=3)


def test_submit_stores_the_annotation_and_closes_the_entry(quiet_project, django_capture_on_commit_callbacks):
    user = factories.make_member(quiet_project)
    items = factories.make_items(quiet_project, 1)
    items[0].suggestion = {"labels": ["dog"], "confidence": 0.8, "model_version": 1}
    items[0].save()
    version = GuidelineVersion.objects.create(project=quiet_project, number=1, status="published")
    GuidelineAcknowledgement.objects.create(version=version, user=user)
    queue(quiet_project, items)
    lease = services.lease_next_item(user, quiet_project)
    received = []

    def receiver(sender, annotation, project, **kwargs):
        received.append((annotation.pk, project.pk))

    annotation_submitted.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            annotation = services.submit_annotation(lease, ["dog"], 4.5)
    finally:
        annotation_submitted.disconnect(receiver)
    assert received == [(annotation.pk, quiet_project.pk)]
    assert annotation.guideline_version == version
    assert annotation.suggestion_shown == items[0].suggestion
    assert annotation.lease_id == lease.pk and annotation.time_spent == 4.5 and not annotation.was_gold_check
    entry = QueueEntry.objects.get()
    assert (entry.is_open, entry.completed_annotations, entry.leased_count) == (False, 1, 0)


@pytest.mark.parametrize(
    ("labels", "code", "message"),
    [
        (["horse"], "unknown_label", "Label 'horse' is not in the schema"),
        (["cat", "dog"], "wrong_label_count", "single-label: give exactly one label, got 2"),
        ([], "wrong_label_count", "at least one label"),
        (["cat", "cat"], "duplicate_label", "lists the class 'cat' twice"),
        ("cat", "invalid_label", "must be a list of class names"),
    ],
)
def test_submit_refuses_labels_outside_the_schema_or_count(quiet_project, labels, code, message):
    user = factories.make_member(quiet_project)
    queue(quiet_project, factories.make_items(quiet_project, 1))
    lease = services.lease_next_item(user, quiet_project)
    with pytest.raises(InvalidLabels, match=message) as caught:
        services.submit_annotation(lease, labels)
    assert (caught.value.field, caught.value.code) == ("labels", code)
    assert not Annotation.objects.exists()
    lease.refresh_from_db()
    assert lease.is_live  # refused labels leave the lease as it was


def test_multi_label_project_accepts_several_labels():
    project = factories.make_project(multi_label=True, gold_rate=0, overlap_fraction=0)
    user = factories.make_member(project)
    queue(project, factories.make_items(project, 1))
    annotation = services.submit_annotation(services.lease_next_item(user, project), ["wolf", "cat"])
    assert annotation.labels == ["cat", "wolf"]  # stored in schema order


def test_submit_refuses_an_expired_lease(quiet_project):
    user = factories.make_member(quiet_project)
    queue(quiet_project, factories.make_items(quiet_project, 1))
    lease = services.lease_next_item(user, quiet_project)
    Lease.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.QueueError, match=f"Lease {lease.pk} expired") as caught:
        services.submit_annotation(lease, ["cat"])
    assert caught.value.code == "lease_expired"


def test_submit_refuses_someone_elses_lease(quiet_project):
    owner, other = factories.make_member(quiet_project), factories.make_member(quiet_project)
    queue(quiet_project, factories.make_items(quiet_project, 1))
    lease = services.lease_next_item(owner, quiet_project)
    with pytest.raises(services.QueueError, match="belongs to another annotator"):
        services.submit_annotation(lease, ["cat"], annotator=other)


def test_submit_twice_is_refused(quiet_project):
    user = factories.make_member(quiet_project)
    queue(quiet_project, factories.make_items(quiet_project, 1))
    lease = services.lease_next_item(user, quiet_project)
    services.submit_annotation(lease, ["cat"])
    with pytest.raises(services.QueueError, match="already submitted"):
        services.submit_annotation(lease, ["cat"])


def test_skipped_item_goes_to_others_but_not_back_to_the_skipper(quiet_project):
    first, second = factories.make_member(quiet_project), factories.make_member(quiet_project)
    queue(quiet_project, factories.make_items(quiet_project, 1))
    lease = services.lease_next_item(first, quiet_project)
    services.skip(lease, first)
    assert services.lease_next_item(first, quiet_project) is None
    assert services.lease_next_item(second, quiet_project).entry_id == lease.entry_id


def test_flag_records_the_comment_and_releases_the_lease(quiet_project):
    user = factories.make_member(quiet_project)
    queue(quiet_project, factories.make_items(quiet_project, 1))
    lease = services.lease_next_item(user, quiet_project)
    item_flag = services.flag(lease, user, "  could be a husky  ")
    lease.refresh_from_db()
    assert (item_flag.comment, item_flag.item_id) == ("could be a husky", lease.entry.item_id)
    assert lease.release_reason == "flagged"
    assert ItemFlag.objects.count() == 1 and QueueEntry.objects.get().leased_count == 0


def test_undo_retracts_the_last_annotation_and_leases_the_item_back(quiet_project):
    user = factories.make_member(quiet_project)
    queue(quiet_project, factories.make_items(quiet_project, 2))
    first = services.submit_annotation(services.lease_next_item(user, quiet_project), ["cat"])
    second = services.submit_annotation(services.lease_next_item(user, quiet_project), ["dog"])
    annotation, lease = services.undo_last_submit(user, quiet_project)
    assert annotation.pk == second.pk and annotation.retracted_at is not None
    assert Annotation.objects.count() == 2  # the row stays
    assert lease.entry.item_id == second.item_id and lease.is_live
    entry = QueueEntry.objects.get(item_id=second.item_id)
    assert (entry.is_open, entry.completed_annotations, entry.leased_count) == (True, 0, 1)
    relabelled = services.submit_annotation(lease, ["wolf"])
    assert relabelled.item_id == second.item_id
    assert services.undo_last_submit(user, quiet_project)[0].pk == relabelled.pk
    assert first.retracted_at is None


def test_undo_with_nothing_submitted_is_a_clear_error(quiet_project):
    with pytest.raises(services.QueueError, match="Nothing to undo"):
        services.undo_last_submit(factories.make_member(quiet_project), quiet_project)


def test_paused_member_is_served_nothing(quiet_project):
    user = factories.make_member(quiet_project)
    ProjectMembership.objects.filter(user=user).update(is_paused=True, paused_reason="gold accuracy 40 %")
    queue(quiet_project, factories.make_items(quiet_project, 1))
    with pytest.raises(services.AnnotatorPaused, match="gold accuracy 40 %"):
        services.lease_next_item(user, quiet_project)
    assert not Lease.objects.exists()


def test_pending_guideline_acknowledgement_blocks_serving(quiet_project):
    user = factories.make_member(quiet_project)
    queue(quiet_project, factories.make_items(quiet_project, 1))
    version = GuidelineVersion.objects.create(
        project=quiet_project, number=2, status="published", change_summary="wolves vs huskies"
    )
    with pytest.raises(GuidelineAckRequired) as caught:
        services.lease_next_item(user, quiet_project)
    assert caught.value.version == version
    GuidelineAcknowledgement.objects.create(version=version, user=user)
    assert services.lease_next_item(user, quiet_project) is not None


def test_gold_item_is_mixed_in_without_taking_a_regular_slot():
    project = factories.make_project(gold_rate=1.0, overlap_fraction=0)
    first, second = factories.make_member(project), factories.make_member(project)
    gold_item, regular = factories.make_items(project, 2)
    GoldItem.objects.create(item=gold_item, labels=["cat"])
    queue(project, [gold_item, regular])
    lease = services.lease_next_item(first, project)
    assert lease.entry.item_id == gold_item.pk
    assert services.submit_annotation(lease, ["cat"]).was_gold_check
    # The second annotator gets the gold item too (its own copy), the regular one stays queued.
    assert services.lease_next_item(second, project).entry.item_id == gold_item.pk
    entry = QueueEntry.objects.get(item=regular)
    assert (entry.is_open, entry.leased_count) == (True, 0)


def test_submit_records_a_weak_suggestion_alone_apart_from_any_model_one(quiet_project):
    from labelhub.weak import services as weak_services

    user = factories.make_member(quiet_project)
    items = factories.make_items(quiet_project, 2)
    weak_services.create_function(
        quiet_project, name="first", kind="keyword", label="wolf", config={"keywords": ["number 0"]}
    )
    weak_services.execute_run(weak_services.start_run(quiet_project), method="majority")
    queue(quiet_project, items)

    weakly = services.submit_annotation(services.lease_next_item(user, quiet_project), ["cat"])
    assert set(weakly.suggestion_shown) == {"weak"}  # no top-level labels a reader takes for the model's
    assert weakly.suggestion_shown["weak"]["labels"] == ["wolf"]
    assert weakly.suggestion_shown["weak"]["source"] == "weak"
    assert weakly.suggestion_shown["weak"]["function_versions"] == {"first": 1}

    unsuggested = services.submit_annotation(services.lease_next_item(user, quiet_project), ["cat"])
    assert unsuggested.item_id == items[1].pk and unsuggested.suggestion_shown is None
