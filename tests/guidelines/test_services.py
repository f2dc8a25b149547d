"""Drafts, publishing and acknowledgements."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connection, connections

from labelhub.errors import DomainError
from labelhub.guidelines import selectors, services
from labelhub.guidelines.errors import GuidelineError
from labelhub.guidelines.models import ClassDefinition, GuidelineExample, GuidelineVersion
from tests import factories
from tests.guidelines.conftest import publish

pytestmark = pytest.mark.django_db


def test_publish_numbers_versions_one_two_three(project, manager):
    numbers = [publish(project, manager, summary=f"change {i}").number for i in range(3)]
    assert numbers == [1, 2, 3]


def test_publish_numbers_are_per_project(project, manager):
    other = factories.make_project()
    publish(project, manager)
    assert publish(other).number == 1


def test_publish_records_who_and_when(project, manager):
    version = publish(project, manager, summary="Wolves vs dogs clarified.")
    assert version.published_by == manager
    assert version.published_at is not None
    assert version.change_summary == "Wolves vs dogs clarified."


def test_publish_requires_a_change_summary(project, manager):
    draft = services.create_draft(project, manager, body="text")
    with pytest.raises(GuidelineError) as caught:
        services.publish_version(draft, manager)
    assert caught.value.field == "change_summary"
    draft.refresh_from_db()
    assert draft.status == GuidelineVersion.Status.DRAFT


def test_guideline_errors_are_domain_errors_with_a_code(project, manager):
    draft = services.create_draft(project, manager)
    with pytest.raises(DomainError) as caught:
        services.publish_version(draft, manager)
    assert (caught.value.status_code, caught.value.code) == (400, "required")
    assert caught.value.body()["field"] == "change_summary"


def test_publishing_twice_is_refused(published, manager):
    with pytest.raises(GuidelineError) as caught:
        services.publish_version(published, manager, change_summary="again")
    assert caught.value.field == "status"


def test_publish_announces_on_the_project_channel(
    project, manager, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(services, "announce_queue_update", lambda pid, **kw: sent.append((pid, kw)))
    with django_capture_on_commit_callbacks(execute=True):
        version = publish(project, manager, summary="now with wolves")
    assert sent == [
        (
            project.pk,
            {"guideline_published": {"id": version.pk, "number": 1, "change_summary": "now with wolves"}},
        )
    ]


def test_update_draft_refuses_a_published_version(published):
    with pytest.raises(GuidelineError) as caught:
        services.update_draft(published, body="new")
    assert caught.value.field == "status"


def test_update_draft_names_an_unknown_field(project):
    draft = services.create_draft(project)
    with pytest.raises(GuidelineError) as caught:
        services.update_draft(draft, number="7")
    assert caught.value.field == "number"


def _define(version, *specs):
    services.replace_class_definitions(version, specs)


def test_replace_class_definitions_sets_definitions_and_examples(project):
    item = factories.make_items(project, 1)[0]
    draft = services.create_draft(project)
    _define(
        draft,
        services.ClassDefinitionSpec(
            "cat",
            "A small feline.",
            [services.ExampleSpec("positive", "a tabby"), services.ExampleSpec("negative", item_id=item.pk)],
        ),
        services.ClassDefinitionSpec("dog", "Barks."),
    )
    sections = selectors.class_sections(
        selectors.with_content(GuidelineVersion.objects.all()).get(pk=draft.pk)
    )
    assert [s.label_class.name for s in sections] == ["cat", "dog"]
    assert [e.text for e in sections[0].positives] == ["a tabby"]
    assert [(e.item_id, e.text) for e in sections[0].negatives] == [(item.pk, "item number 0")]


def test_replace_class_definitions_names_an_unknown_class(project):
    draft = services.create_draft(project)
    with pytest.raises(GuidelineError) as caught:
        _define(draft, services.ClassDefinitionSpec("cat"), services.ClassDefinitionSpec("unicorn"))
    assert caught.value.field == "class_definitions[1].label_class"
    assert "'unicorn'" in caught.value.message
    assert not ClassDefinition.objects.filter(version=draft).exists()


def test_replace_class_definitions_refuses_an_item_of_another_project(project):
    foreign = factories.make_items(factories.make_project(), 1, prefix="foreign")[0]
    draft = services.create_draft(project)
    with pytest.raises(GuidelineError) as caught:
        _define(
            draft,
            services.ClassDefinitionSpec(
                "cat", examples=[services.ExampleSpec("positive", item_id=foreign.pk)]
            ),
        )
    assert caught.value.field == "class_definitions[0].examples[0].item"


def test_new_draft_from_a_version_copies_text_classes_and_examples(project, manager):
    draft = services.create_draft(project, body="# Body", ambiguous_cases="Hmm.")
    _define(
        draft, services.ClassDefinitionSpec("wolf", "Wild.", [services.ExampleSpec("positive", "grey wolf")])
    )
    v1 = services.publish_version(draft, manager, change_summary="first")
    copy = services.start_draft_from(v1, manager)
    assert copy.status == "draft" and copy.based_on == v1 and copy.change_summary == ""
    assert (copy.body, copy.ambiguous_cases) == ("# Body", "Hmm.")
    assert list(ClassDefinition.objects.filter(version=copy).values_list("definition", flat=True)) == [
        "Wild."
    ]
    assert list(GuidelineExample.objects.filter(version=copy).values_list("text", flat=True)) == ["grey wolf"]


def test_acknowledge_is_idempotent(published, annotator):
    first, created = services.acknowledge(published, annotator)
    again, created_again = services.acknowledge(published, annotator)
    assert created and not created_again and first.pk == again.pk


def test_acknowledging_a_draft_is_refused(project, annotator):
    with pytest.raises(GuidelineError):
        services.acknowledge(services.create_draft(project), annotator)


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_get_consecutive_numbers(project, manager):
    if connection.vendor != "postgresql":
        pytest.skip("row locks between threads need PostgreSQL (SQLite serialises writers anyway)")
    drafts = [services.create_draft(project, manager, change_summary=f"draft {i}") for i in range(4)]
    barrier = Barrier(len(drafts))

    def publish_one(draft):
        try:
            barrier.wait()
            return services.publish_version(draft, manager).number
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(drafts)) as pool:
        numbers = list(pool.map(publish_one, drafts))
    assert sorted(numbers) == [1, 2, 3, 4]


def test_editing_a_stale_draft_after_someone_published_it_is_a_guideline_error(project, manager):
    draft = services.create_draft(project, manager, change_summary="x")
    stale = GuidelineVersion.objects.get(pk=draft.pk)
    services.publish_version(draft, manager)
    with pytest.raises(GuidelineError) as caught:
        services.update_draft(stale, body="late edit")
    assert caught.value.field == "status"
