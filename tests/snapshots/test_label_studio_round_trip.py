"""labelhub → Label Studio JSON → labelhub: labels, annotators, time spent, suggestions and (when
pinned) splits survive; the generated config keeps hotkeys and colours."""

from __future__ import annotations

import io
import json

import pytest
from django.utils import timezone

from annotators.qa.models import ConsensusLabel
from labelhub.projects.importing import import_file
from labelhub.projects.models import Annotation, Item, LabelClass
from labelhub.projects.services import create_project_from_label_config
from labelhub.snapshots import services
from labelhub.snapshots.exports import build_manifest, labelstudio_chunks
from labelhub.snapshots.models import SnapshotItem
from tests import factories

pytestmark = pytest.mark.django_db

SUGGESTION = {"labels": ["dog"], "confidence": 0.8, "model_version": "round-3"}


@pytest.fixture
def source(project):
    LabelClass.objects.filter(project=project, name="cat").update(colour="#ff8800")
    alice = factories.make_member(project, user=factories.make_user("alice"))
    alice.email = "alice@example.org"
    alice.save()
    bob = factories.make_member(project, user=factories.make_user("bob"))
    items = factories.make_items(project, 6)
    for i, item in enumerate(items[:5]):
        Annotation.objects.create(
            item=item,
            annotator=alice if i % 2 else bob,
            labels=[["cat", "dog", "wolf"][i % 3]],
            time_spent=1.5 + i,
            suggestion_shown=SUGGESTION if i < 2 else None,
        )
    # One item two people labelled and QA resolved: its label is nobody's own.
    Annotation.objects.create(item=items[5], annotator=alice, labels=["cat"], time_spent=2.0)
    Annotation.objects.create(item=items[5], annotator=bob, labels=["wolf"], time_spent=3.0)
    ConsensusLabel.objects.create(
        item=items[5], labels=["wolf"], confidence=0.5, method="adjudicated", annotator_count=2
    )
    return project


def export(snapshot) -> bytes:
    return b"".join(labelstudio_chunks(snapshot))


def round_trip(snapshot, name="Back"):
    target = create_project_from_label_config(name, build_manifest(snapshot)["label_config"])
    import_file(target, io.BytesIO(export(snapshot)), "label_studio")
    return target


def test_export_carries_lead_time_annotator_and_the_suggestion_shown(source):
    snapshot, _ = services.cut_snapshot(source)
    tasks = {t["meta"]["external_id"]: t for t in json.loads(export(snapshot))}
    first = tasks["item-0"]
    assert first["annotations"][0]["lead_time"] == 1.5
    assert first["annotations"][0]["completed_by"] == {"email": "bob@labelhub.invalid", "username": "bob"}
    assert tasks["item-1"]["annotations"][0]["completed_by"] == {
        "email": "alice@example.org",
        "username": "alice",
    }
    [prediction] = first["predictions"]
    assert (prediction["model_version"], prediction["score"]) == ("round-3", 0.8)
    assert prediction["result"][0]["value"]["choices"] == ["dog"]
    assert tasks["item-2"]["predictions"] == []
    resolved = tasks["item-5"]
    assert "completed_by" not in resolved["annotations"][0] and resolved["annotations"][0]["lead_time"] == 5.0
    assert [(v["choices"], v["lead_time"]) for v in resolved["meta"]["annotations"]] == [
        (["cat"], 2.0),
        (["wolf"], 3.0),
    ]


def test_generated_config_keeps_hotkeys_and_colours(source):
    snapshot, _ = services.cut_snapshot(source)
    config = build_manifest(snapshot)["label_config"]
    assert '<Choice value="cat" hotkey="1" background="#ff8800"/>' in config
    back = create_project_from_label_config("Looks", config)
    assert [(c.name, c.key, c.colour) for c in back.classes.all()] == [
        (c.name, c.key, c.colour) for c in source.classes.all()
    ]


def test_round_trip_keeps_labels_annotators_time_and_suggestions(source):
    snapshot, _ = services.cut_snapshot(source)
    target = round_trip(snapshot)
    before = {
        a.item.external_id: (a.labels, a.time_spent)
        for a in Annotation.objects.filter(item__project=source).select_related("item")
        if a.item.external_id != "item-5"
    }
    after = Annotation.objects.filter(item__project=target).select_related("item", "annotator")
    assert {
        a.item.external_id: (a.labels, a.time_spent) for a in after if a.item.external_id != "item-5"
    } == before
    who = {a.item.external_id: a.annotator.username for a in after if a.annotator}
    assert who["item-0"] == "ls:bob@labelhub.invalid" and who["item-1"] == "ls:alice@example.org"
    assert {
        i.external_id: i.suggestion for i in Item.objects.filter(project=target, suggestion__isnull=False)
    } == {
        "item-0": SUGGESTION,
        "item-1": SUGGESTION,
    }
    resolved = {r.external_id: r.labels for r in SnapshotItem.objects.filter(snapshot=snapshot)}
    again, _ = services.cut_snapshot(target)
    assert {r.external_id: r.labels for r in SnapshotItem.objects.filter(snapshot=again)} == resolved


def test_a_second_round_trip_gives_the_same_annotators(source):
    snapshot, _ = services.cut_snapshot(source)
    first = round_trip(snapshot, "First")
    second = round_trip(services.cut_snapshot(first)[0], "Second")
    names = {
        project.pk: sorted(
            Annotation.objects.filter(item__project=project).values_list("annotator__username", flat=True),
            key=str,
        )
        for project in (first, second)
    }
    assert names[first.pk] == names[second.pk]


def test_splits_pinned_to_the_external_id_survive_the_round_trip(source):
    snapshot, _ = services.cut_snapshot(source, split_key="external_id")
    target = round_trip(snapshot)
    again, _ = services.cut_snapshot(target, split_key="external_id")
    splits = {r.external_id: r.split for r in SnapshotItem.objects.filter(snapshot=snapshot)}
    assert {r.external_id: r.split for r in SnapshotItem.objects.filter(snapshot=again)} == splits
    assert again.split_key == "external_id" and build_manifest(again)["split_key"] == "external_id"


def test_export_of_a_snapshot_ignores_annotations_made_after_the_cut(source):
    snapshot, _ = services.cut_snapshot(source)
    before = export(snapshot)
    item = Item.objects.get(project=source, external_id="item-0")
    late = Annotation.objects.create(item=item, annotator=None, labels=["wolf"], time_spent=9.0)
    Annotation.objects.filter(item=item).exclude(pk=late.pk).update(retracted_at=timezone.now())
    assert export(snapshot) == before


def test_unknown_split_key_is_refused_naming_it(client, source, manager):
    client.force_login(manager)
    response = client.post(
        f"/api/projects/{source.pk}/snapshots/", {"split_key": "moon"}, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["field"] == "split_key"


# Two texts and a header, labelling the second text; the task's own "text" is shown in a header.
NEWS = (
    '<View><Header value="$text"/><Text name="summary" value="$summary"/>'
    '<Text name="story" value="$body"/>'
    '<Choices name="topic" toName="story"><Choice value="sport"/><Choice value="politics"/></Choices></View>'
)
NEWS_TASKS = [
    {
        "data": {"id": f"n{i}", "text": f"Headline {i}", "summary": f"In short {i}", "body": f"Story {i}"},
        "annotations": [
            {"completed_by": 2, "lead_time": 1.0 + i, "result": [{"value": {"choices": [topic]}}]}
        ],
    }
    for i, topic in enumerate(["sport", "politics", "sport"])
]


def test_two_texts_and_a_header_survive_the_round_trip():
    source = create_project_from_label_config("News", NEWS)
    import_file(source, io.BytesIO(json.dumps(NEWS_TASKS).encode()), "label_studio")
    snapshot, _ = services.cut_snapshot(source)
    config = build_manifest(snapshot)["label_config"]
    assert config == NEWS  # the project's own config: the same Text and Header tags
    tasks = json.loads(export(snapshot))
    exported = {t["data"]["external_id"]: t for t in tasks}
    for task in NEWS_TASKS:
        given = {k: v for k, v in task["data"].items() if k != "id"}
        back = exported[task["data"]["id"]]
        # Every field under the name the config reads, the label on the labelled text.
        assert {k: v for k, v in back["data"].items() if k != "external_id"} == given
        assert back["annotations"][0]["result"][0]["to_name"] == "story"
    target = round_trip(snapshot)
    payloads = {i.external_id: i.payload for i in Item.objects.filter(project=source)}
    assert payloads["n1"] == {"text": "Story 1", "summary": "In short 1", "unread_text": "Headline 1"}
    assert {i.external_id: i.payload for i in Item.objects.filter(project=target)} == payloads
    assert sorted(
        Annotation.objects.filter(item__project=target).values_list("item__external_id", "labels")
    ) == [("n0", ["sport"]), ("n1", ["politics"]), ("n2", ["sport"])]
