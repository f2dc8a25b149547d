"""Admin console actions for QA: consensus → gold, resolved adjudication → gold."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from annotators.qa import adjudication
from annotators.qa.models import AdjudicationTask, ConsensusLabel, GoldItem
from tests import factories


@pytest.fixture
def admin_client(client, db):
    admin = get_user_model().objects.create_superuser("qa-admin", password="pw-for-tests-1")
    client.force_login(admin)
    return client


def test_mark_consensus_as_gold_action(admin_client, project):
    items = factories.make_items(project, 2)
    for item in items:
        ConsensusLabel.objects.create(item=item, labels=["dog"], method="majority", annotator_count=3)
    response = admin_client.post(
        "/admin/annotators/consensuslabel/",
        {"action": "mark_as_gold", "_selected_action": [i.pk for i in items]},
        follow=True,
    )
    assert response.status_code == 200
    assert sorted(GoldItem.objects.values_list("item_id", "labels")) == [
        (items[0].pk, ["dog"]),
        (items[1].pk, ["dog"]),
    ]


def test_promote_resolved_adjudications_action(admin_client, project, manager):
    (item,) = factories.make_items(project, 1)
    task = AdjudicationTask.objects.create(project=project, item=item, reason="disagreement")
    adjudication.resolve_task(task, manager, ["wolf"])
    admin_client.post(
        "/admin/annotators/adjudicationtask/", {"action": "promote_to_gold", "_selected_action": [task.pk]}
    )
    gold = GoldItem.objects.get(item=item)
    assert (gold.labels, gold.source) == (["wolf"], GoldItem.Source.ADJUDICATION)


def test_qa_admin_pages_render(admin_client, project):
    for model in ("golditem", "consensuslabel", "annotatorstats", "annotatorflag", "adjudicationtask"):
        assert admin_client.get(f"/admin/annotators/{model}/").status_code == 200, model


def test_gold_admin_form_refuses_a_class_outside_the_schema(admin_client, project):
    (item,) = factories.make_items(project, 1)
    response = admin_client.post(
        "/admin/annotators/golditem/add/", {"item": item.pk, "labels": '["tiger"]', "source": "manual"}
    )
    assert response.status_code == 200  # the form again, with the error beside the field
    assert "Label &#x27;tiger&#x27; is not in the schema" in response.content.decode()
    assert not GoldItem.objects.exists()


def test_gold_admin_form_stores_the_answer_in_canonical_form(admin_client, db):
    project = factories.make_project(classes=("wolf", "dog", "cat"), multi_label=True)
    (item,) = factories.make_items(project, 1)
    response = admin_client.post(
        "/admin/annotators/golditem/add/", {"item": item.pk, "labels": '["cat", "wolf"]', "source": "manual"}
    )
    assert response.status_code == 302
    gold = GoldItem.objects.get(item=item)
    assert gold.labels == ["wolf", "cat"] and gold.created_by.username == "qa-admin"
