"""The queue API: the contract shapes and the 400s that name the field and value."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from annotators.qa.models import GoldItem
from labelhub.guidelines.models import GuidelineVersion
from labelhub.projects.models import Annotation, ProjectMembership
from labelhub.queues import services
from labelhub.queues.models import Lease, QueueEntry
from labelhub.queues.services import filling
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    return factories.queued_project(5)


def next_url(project, count=None):
    return f"/api/projects/{project.pk}/queue/next/" + (f"?count={count}" if count else "")


def test_next_returns_lease_and_item_without_the_reason(setup):
    project, _, items, client = setup
    response = client.post(next_url(project))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"lease", "item"}
    assert set(body["lease"]) == {"id", "expires_at"}
    assert body["item"] == {
        "id": items[0].pk,
        "external_id": "item-0",
        "payload": {"text": "item number 0"},
        "suggestion": None,
        "weak_suggestion": None,
    }


def test_next_with_count_returns_results_for_prefetch(setup):
    project, _, items, client = setup
    body = client.post(next_url(project, 3)).json()
    assert [r["item"]["id"] for r in body["results"]] == [item.pk for item in items[:3]]


def test_next_count_out_of_range_names_the_field(setup):
    project, _, _, client = setup
    response = client.post(next_url(project, 50))
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "count" and body["code"] == "invalid"
    assert "count must be between 1 and 10, got 50" in body["detail"]


def test_next_count_that_is_not_a_number_names_the_field(setup):
    project, _, _, client = setup
    response = client.post(f"/api/projects/{project.pk}/queue/next/?count=many")
    assert response.status_code == 400
    assert response.json()["field"] == "count"
    assert "count must be an integer, got 'many'" in response.json()["detail"]


def test_next_answers_204_when_nothing_is_left(setup):
    project, _, _, client = setup
    client.post(next_url(project, 5))
    assert client.post(next_url(project)).status_code == 204


def test_gold_item_looks_like_any_other(setup):
    project, user, items, client = setup
    project.gold_rate = 1.0
    project.save()
    gold_item = factories.make_items(project, 1, prefix="gold")[0]
    GoldItem.objects.create(item=gold_item, labels=["cat"])
    body = client.post(next_url(project)).json()
    assert body["item"]["id"] == gold_item.pk
    assert set(body) == {"lease", "item"} and set(body["item"]) == {
        "id",
        "external_id",
        "payload",
        "suggestion",
        "weak_suggestion",
    }
    assert "cat" not in str(body)


def test_next_is_409_with_the_version_while_acknowledgement_is_pending(setup):
    project, _, _, client = setup
    version = GuidelineVersion.objects.create(
        project=project, number=3, status="published", change_summary="Huskies are dogs."
    )
    response = client.post(next_url(project))
    assert response.status_code == 409
    body = response.json()
    assert body == {
        "code": "guideline_ack_required",
        "detail": body["detail"],
        "field": None,
        "errors": [{"field": None, "code": "guideline_ack_required", "detail": body["detail"]}],
        "version": {"id": version.pk, "number": 3, "change_summary": "Huskies are dogs."},
        "acknowledge_url": f"/api/guidelines/{version.pk}/acknowledge/",
    }
    assert "v3" in body["detail"]


def test_next_is_403_for_a_paused_member(setup):
    project, user, _, client = setup
    ProjectMembership.objects.filter(user=user).update(is_paused=True)
    response = client.post(next_url(project))
    assert response.status_code == 403
    assert response.json()["code"] == "annotator_paused"
    assert "paused on this project" in response.json()["detail"]


def test_outsider_gets_404(setup, outsider):
    project, _, _, _ = setup
    client = APIClient()
    client.force_authenticate(outsider)
    assert client.post(next_url(project)).status_code == 404


def test_submit_to_a_lease_outside_ones_projects_is_404_and_changes_nothing(setup, outsider):
    project, _, _, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    stranger = APIClient()
    stranger.force_authenticate(outsider)
    response = stranger.post(f"/api/leases/{lease_id}/submit/", {"labels": ["cat"]}, format="json")
    assert response.status_code == 404
    # Exactly what an unknown URL answers: nothing says the lease exists elsewhere.
    assert (
        response.json()
        == stranger.post("/api/leases/999999999/submit/", {"labels": ["cat"]}, format="json").json()
    )
    assert response.json()["detail"] == "Not found."
    assert not Annotation.objects.exists()
    assert Lease.objects.get(pk=lease_id).completed_at is None


def test_submit_creates_the_annotation(setup):
    project, user, items, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    response = client.post(
        f"/api/leases/{lease_id}/submit/", {"labels": ["dog"], "time_spent": 2.5}, format="json"
    )
    assert response.status_code == 201
    annotation = Annotation.objects.get()
    assert (annotation.item_id, annotation.labels, annotation.time_spent) == (items[0].pk, ["dog"], 2.5)


def test_submit_label_not_in_schema_is_400_naming_the_value(setup):
    project, _, _, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    response = client.post(f"/api/leases/{lease_id}/submit/", {"labels": ["horse"]}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "labels" and body["code"] == "unknown_label"
    assert "'horse' is not in the schema" in body["detail"]
    assert body["errors"] == [{"field": "labels", "code": "unknown_label", "detail": body["detail"]}]


def test_submit_two_labels_on_single_label_is_400(setup):
    project, _, _, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    response = client.post(f"/api/leases/{lease_id}/submit/", {"labels": ["cat", "dog"]}, format="json")
    assert response.status_code == 400
    assert "exactly one label, got 2" in response.json()["detail"]
    assert response.json()["code"] == "wrong_label_count"


def test_submit_on_expired_lease_is_400(setup):
    project, _, _, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    Lease.objects.filter(pk=lease_id).update(expires_at=timezone.now() - timedelta(seconds=5))
    response = client.post(f"/api/leases/{lease_id}/submit/", {"labels": ["cat"]}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "lease_expired"
    assert f"Lease {lease_id} expired" in response.json()["detail"]


def test_submit_on_someone_elses_lease_is_400(setup):
    project, _, _, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    other = APIClient()
    other.force_authenticate(factories.make_member(project))
    response = other.post(f"/api/leases/{lease_id}/submit/", {"labels": ["cat"]}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == f"Lease {lease_id} belongs to another annotator."
    assert response.json()["code"] == "not_yours" and response.json()["field"] == "lease"


def test_submit_with_labels_missing_names_the_field(setup):
    project, _, _, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    response = client.post(f"/api/leases/{lease_id}/submit/", {"time_spent": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "labels" and response.json()["code"] == "required"


def test_skip_release_and_flag(setup):
    project, _, _, client = setup
    leases = [r["lease"]["id"] for r in client.post(next_url(project, 3)).json()["results"]]
    assert client.post(f"/api/leases/{leases[0]}/skip/").json()["released"] == "skipped"
    assert client.post(f"/api/leases/{leases[1]}/release/").json()["released"] == "released"
    response = client.post(f"/api/leases/{leases[2]}/flag/", {"comment": "two animals"}, format="json")
    assert response.status_code == 201
    assert sorted(Lease.objects.values_list("release_reason", flat=True)) == [
        "flagged",
        "released",
        "skipped",
    ]
    again = client.post(f"/api/leases/{leases[0]}/skip/")
    assert again.status_code == 400
    assert again.json()["field"] == "lease" and again.json()["code"] == "lease_skipped"


def test_release_many_frees_unused_prefetched_leases(setup):
    project, _, _, client = setup
    leases = [r["lease"]["id"] for r in client.post(next_url(project, 3)).json()["results"]]
    response = client.post(
        f"/api/projects/{project.pk}/queue/release/", {"leases": leases[1:]}, format="json"
    )
    assert response.json() == {"released": 2}
    assert QueueEntry.objects.filter(leased_count=1).count() == 1


def test_release_many_refuses_ids_beyond_a_64_bit_integer(setup):
    project, _, _, client = setup
    response = client.post(
        f"/api/projects/{project.pk}/queue/release/", {"leases": [319649017500695491772416]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "leases[0]"


def test_undo_returns_the_item_with_the_retracted_labels(setup):
    project, _, items, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    client.post(f"/api/leases/{lease_id}/submit/", {"labels": ["wolf"]}, format="json")
    body = client.post(f"/api/projects/{project.pk}/queue/undo/").json()
    assert body["item"]["id"] == items[0].pk and body["retracted"]["labels"] == ["wolf"]
    nothing = client.post(f"/api/projects/{project.pk}/queue/undo/")
    assert nothing.status_code == 400 and nothing.json()["code"] == "nothing_to_undo"


def test_undo_since_leaves_earlier_labels_alone(setup):
    project, _, _, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    client.post(f"/api/leases/{lease_id}/submit/", {"labels": ["wolf"]}, format="json")
    opened = timezone.now()  # a page opened after that submit
    refused = client.post(
        f"/api/projects/{project.pk}/queue/undo/", {"since": opened.isoformat()}, format="json"
    )
    assert refused.status_code == 400 and refused.json()["code"] == "nothing_to_undo"
    assert "before you opened it" in refused.json()["detail"]
    assert Annotation.objects.get(lease_id=lease_id).retracted_at is None
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    client.post(f"/api/leases/{lease_id}/submit/", {"labels": ["cat"]}, format="json")
    body = client.post(
        f"/api/projects/{project.pk}/queue/undo/", {"since": opened.isoformat()}, format="json"
    )
    assert body.status_code == 200 and body.json()["retracted"]["labels"] == ["cat"]


def test_undo_since_that_is_not_a_time_is_a_400_naming_it(setup):
    project, _, _, client = setup
    response = client.post(f"/api/projects/{project.pk}/queue/undo/", {"since": "yesterday"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "since"


def test_fill_is_for_managers_and_announces(setup, monkeypatch, django_capture_on_commit_callbacks):
    project, _, _, client = setup
    factories.make_items(project, 10, prefix="more")
    assert (
        client.post(f"/api/projects/{project.pk}/queue/fill/", {"count": 5}, format="json").status_code == 403
    )
    manager = APIClient()
    manager.force_authenticate(factories.make_member(project, "manager"))
    sent = []
    monkeypatch.setattr(filling, "announce_queue_update", lambda pid, **details: sent.append((pid, details)))
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(f"/api/projects/{project.pk}/queue/fill/", {"count": 5}, format="json")
    assert response.json()["added"] == 5
    assert sent == [(project.pk, {"reason": "filled", "added": 5, "requested_by": None})]


def test_fill_reprioritises_given_items(setup, django_capture_on_commit_callbacks):
    project, _, items, _ = setup
    manager = APIClient()
    manager.force_authenticate(factories.make_member(project, "manager"))
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(
            f"/api/projects/{project.pk}/queue/fill/",
            {"items": [{"id": items[4].pk, "priority": 99}]},
            format="json",
        )
    assert response.json()["reprioritised"] == 1
    assert QueueEntry.objects.order_by("-priority").first().item_id == items[4].pk
    bad = manager.post(f"/api/projects/{project.pk}/queue/fill/", {"items": [{"id": 10**9}]}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "items"
    assert f"Item {10**9} is not in project" in bad.json()["detail"]


def test_balance_reports_target_and_actual_share(setup):
    project, user, items, client = setup
    project.balance_target = {"cat": 1, "dog": 1}
    project.save()
    Annotation.objects.create(item=items[0], annotator=user, labels=["dog"])
    body = client.get(f"/api/projects/{project.pk}/balance/").json()
    assert body["labelled"] == 1 and body["target_set"]
    by_name = {row["name"]: row for row in body["classes"]}
    assert by_name["dog"]["actual_share"] == 1.0 and by_name["dog"]["target_share"] == 0.5
    assert by_name["wolf"]["target_share"] == 0.0 and by_name["cat"]["deficit"] == 1.0


def test_queue_status_reports_progress(setup):
    project, _, _, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    client.post(f"/api/leases/{lease_id}/submit/", {"labels": ["cat"]}, format="json")
    body = client.get(f"/api/projects/{project.pk}/queue/").json()
    assert body["progress"]["done_today"] == 1 and body["progress"]["queue_left"] == 4


@pytest.mark.parametrize("time_spent", [1e308, 86401, -1])
def test_submit_time_spent_out_of_bounds_is_400_naming_the_field(setup, time_spent):
    project, _, _, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    response = client.post(
        f"/api/leases/{lease_id}/submit/", {"labels": ["cat"], "time_spent": time_spent}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "time_spent"
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("time_spent", ["nan", "inf", "-inf"])
def test_submit_time_spent_not_finite_is_400_naming_the_field(setup, time_spent):
    project, _, _, client = setup
    lease_id = client.post(next_url(project)).json()["lease"]["id"]
    response = client.post(f"/api/leases/{lease_id}/submit/", {"labels": "cat", "time_spent": time_spent})
    assert response.status_code == 400
    assert response.json()["field"] == "time_spent"
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("time_spent", [float("nan"), float("inf"), 1e308])
def test_the_submit_service_bounds_time_spent(setup, time_spent):
    project, user, _, _ = setup
    lease = services.lease_next_item(user, project)
    with pytest.raises(services.QueueError) as raised:
        services.submit_annotation(lease, ["cat"], time_spent)
    assert raised.value.field == "time_spent"


def test_a_day_of_time_spent_is_accepted(setup):
    project, user, _, _ = setup
    lease = services.lease_next_item(user, project)
    assert services.submit_annotation(lease, ["cat"], services.MAX_TIME_SPENT).time_spent == 86400


def test_the_weak_suggestion_shown_is_recorded_on_the_annotation_marked_weak(setup):
    from labelhub.weak import services as weak_services

    project, _, items, client = setup
    items[0].suggestion = {"labels": ["cat"], "confidence": 0.6, "model_version": 4}
    items[0].save(update_fields=["suggestion"])
    function = weak_services.create_function(
        project, name="numbered", kind="keyword", label="dog", config={"keywords": ["number"]}
    )
    weak_services.update_function(function, config={"keywords": ["number 0"]})  # version 2
    weak_services.execute_run(weak_services.start_run(project), method="majority")

    body = client.post(next_url(project)).json()
    shown = body["item"]["weak_suggestion"]
    assert shown["labels"] == ["dog"] and shown["source"] == "weak"
    assert "function_versions" not in shown  # the page never names the functions
    client.post(f"/api/leases/{body['lease']['id']}/submit/", {"labels": ["dog"]}, format="json")

    recorded = Annotation.objects.get(item=items[0]).suggestion_shown
    assert {k: recorded[k] for k in ("labels", "confidence", "model_version")} == items[0].suggestion
    weak = recorded["weak"]
    assert {k: weak[k] for k in shown} == shown  # what the page showed, and where it came from:
    assert weak["source"] == "weak" and weak["method"] == "majority"
    assert weak["function_versions"] == {"numbered": 2} and weak["run"] == project.weak_runs.get().pk


def _weak_label_reads(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if 'FROM "weak_weaklabel"' in q["sql"]]


@pytest.mark.parametrize("count", [None, 3])
def test_next_and_submit_read_the_weak_label_with_the_item_not_in_a_query_of_their_own(setup, count):
    from labelhub.weak import services as weak_services

    project, _, _, client = setup
    weak_services.create_function(
        project, name="numbered", kind="keyword", label="dog", config={"keywords": ["number"]}
    )
    weak_services.execute_run(weak_services.start_run(project), method="majority")

    with CaptureQueriesContext(connection) as queries:
        body = client.post(next_url(project, count)).json()
    assert _weak_label_reads(queries) == []
    served = body if count is None else body["results"][0]
    assert served["item"]["weak_suggestion"]["labels"] == ["dog"]
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            f"/api/leases/{served['lease']['id']}/submit/", {"labels": ["dog"]}, format="json"
        )
    assert response.status_code == 201 and _weak_label_reads(queries) == []
    assert Annotation.objects.get(pk=response.json()["annotation"]["id"]).suggestion_shown["weak"][
        "labels"
    ] == ["dog"]


def test_next_expires_overdue_leases_only_when_the_serve_gate_sees_one(setup):
    project, user, _, client = setup
    held = services.lease_next_item(user, project)
    lease_table = Lease._meta.db_table

    def expiry_reads(queries):
        return [
            q["sql"]
            for q in queries.captured_queries
            if q["sql"].startswith(f'SELECT "{lease_table}"."id" AS "pk"')
        ]

    with CaptureQueriesContext(connection) as queries:
        assert client.post(next_url(project)).status_code == 200
    assert expiry_reads(queries) == []  # nothing overdue: no locking read of the leases
    Lease.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with CaptureQueriesContext(connection) as queries:
        assert client.post(next_url(project)).status_code == 200
    assert len(expiry_reads(queries)) == 1
    held.refresh_from_db()
    assert held.release_reason == Lease.ReleaseReason.EXPIRED
