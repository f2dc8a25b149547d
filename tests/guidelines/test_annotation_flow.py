"""The guideline contract seen through the queue's API: the acknowledgement gate on "next item",
every annotation stamped with the version it was made under, and flag → answer → re-queue.

These cross the queues part's code (merged on main), so they check that both sides keep to the
contract rather than re-testing the queue itself.
"""

import pytest

from labelhub.guidelines import services
from labelhub.guidelines.errors import GuidelineAckRequired
from labelhub.projects.models import Annotation
from labelhub.queues import questions
from labelhub.queues.models import ItemFlag, QueueEntry
from labelhub.queues.services import enqueue_items
from tests import factories
from tests.guidelines.conftest import publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(project):
    project.overlap_fraction = 0
    project.gold_rate = 0
    project.save(update_fields=["overlap_fraction", "gold_rate"])
    items = factories.make_items(project, 5)
    enqueue_items(project, [(item.pk, 1.0) for item in items], reason="random", batch_key="flow")
    return items


def _next(client, project):
    return client.post(f"/api/projects/{project.pk}/queue/next/", {}, content_type="application/json")


def _submit(client, lease_id, label="cat"):
    return client.post(
        f"/api/leases/{lease_id}/submit/",
        {"labels": [label], "time_spent": 1.5},
        content_type="application/json",
    )


def test_next_item_waits_for_the_acknowledgement_then_stamps_the_version(
    api, project, manager, annotator, queued
):
    v1 = publish(project, manager, summary="Dogs bark.")
    client = api(annotator)

    refused = _next(client, project)
    assert refused.status_code == 409
    assert refused.json() == {
        **GuidelineAckRequired(v1).body(),
        "detail": refused.json()["detail"],
    }

    assert client.post(refused.json()["acknowledge_url"]).status_code == 201
    served = _next(client, project)
    assert served.status_code == 200
    assert _submit(client, served.json()["lease"]["id"]).status_code == 201
    assert Annotation.objects.get(annotator=annotator).guideline_version == v1


def test_a_new_version_closes_the_gate_again_and_later_work_is_stamped_with_it(
    api, project, manager, annotator, queued
):
    v1 = publish(project, manager)
    services.acknowledge(v1, annotator)
    client = api(annotator)
    first = _next(client, project).json()["lease"]["id"]
    _submit(client, first)

    v2 = publish(project, manager, summary="Wolves are not dogs.")
    refused = _next(client, project)
    assert refused.status_code == 409 and refused.json()["version"]["id"] == v2.pk
    assert refused.json()["version"]["change_summary"] == "Wolves are not dogs."

    client.post(f"/api/guidelines/{v2.pk}/acknowledge/")
    second = _next(client, project).json()["lease"]["id"]
    _submit(client, second, "dog")
    stamped = (
        Annotation.objects.filter(annotator=annotator)
        .order_by("pk")
        .values_list("labels", "guideline_version")
    )
    assert list(stamped) == [(["cat"], v1.pk), (["dog"], v2.pk)]


def test_a_flag_from_the_queue_becomes_a_question_and_its_answer_requeues_the_item(
    api, project, manager, annotator, queued
):
    v1 = publish(project, manager)
    services.acknowledge(v1, annotator)
    client = api(annotator)
    lease = _next(client, project).json()
    flagged = client.post(
        f"/api/leases/{lease['lease']['id']}/flag/",
        {"comment": "husky or wolf?"},
        content_type="application/json",
    )
    assert flagged.status_code == 201
    question = ItemFlag.objects.get()
    assert question.guideline_version == v1

    listed = api(manager).get(f"/api/projects/{project.pk}/guideline-questions/?answered=false").json()
    assert [q["comment"] for q in listed["results"]] == ["husky or wolf?"]
    v2 = publish(project, manager, summary="Huskies are dogs.")
    questions.answer_questions(project, [question.pk], version=v2, answer="Dog.", user=manager)
    entry = QueueEntry.objects.get(item_id=lease["item"]["id"], is_open=True)
    assert entry.reason == "requeue"
