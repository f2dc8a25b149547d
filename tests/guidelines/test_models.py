"""Published versions are immutable in the model layer and in the database."""

import pytest
from django.db import IntegrityError, transaction

from labelhub.guidelines import services
from labelhub.guidelines.models import (
    ClassDefinition,
    GuidelineExample,
    GuidelineVersion,
    ImmutableVersionError,
)
from labelhub.projects.models import LabelClass, Project
from tests import factories
from tests.guidelines.conftest import publish

pytestmark = pytest.mark.django_db


def test_saving_a_published_version_is_refused(published):
    published.body = "changed after the fact"
    with pytest.raises(ImmutableVersionError):
        published.save()
    published.refresh_from_db()
    assert published.body == "Label what you see."


def test_deleting_a_published_version_is_refused(published):
    with pytest.raises(ImmutableVersionError):
        published.delete()
    assert GuidelineVersion.objects.filter(pk=published.pk).exists()


def test_a_draft_can_be_edited_and_deleted(project):
    draft = GuidelineVersion.objects.create(project=project, body="a")
    draft.body = "b"
    draft.save()
    draft.delete()
    assert not GuidelineVersion.objects.filter(pk=draft.pk).exists()


def test_class_definition_of_a_published_version_refuses_changes(project, manager):
    draft = GuidelineVersion.objects.create(project=project)
    cat = LabelClass.objects.get(project=project, name="cat")
    definition = ClassDefinition.objects.create(version=draft, label_class=cat, definition="A small feline.")
    services.publish_version(draft, manager, change_summary="cats")
    definition.definition = "A dog."
    with pytest.raises(ImmutableVersionError):
        definition.save()
    with pytest.raises(ImmutableVersionError):
        definition.delete()
    with pytest.raises(ImmutableVersionError):
        GuidelineExample(version=draft, label_class=cat, text="meow").save()


def test_database_refuses_queryset_update_of_a_published_version(published):
    with pytest.raises(IntegrityError), transaction.atomic():
        GuidelineVersion.objects.filter(pk=published.pk).update(body="sneaky")
    published.refresh_from_db()
    assert published.body == "Label what you see."


def test_database_refuses_bulk_insert_into_a_published_version(published, project):
    cat = LabelClass.objects.get(project=project, name="cat")
    with pytest.raises(IntegrityError), transaction.atomic():
        GuidelineExample.objects.bulk_create([GuidelineExample(version=published, label_class=cat, text="x")])


def test_database_allows_publisher_user_to_be_removed(project):
    publisher = factories.make_user("leaves-the-company")
    version = publish(project, publisher)
    publisher.delete()
    version.refresh_from_db()
    assert version.published_by is None and version.number == 1


def test_deleting_an_example_item_keeps_the_published_text(project, manager):
    item = factories.make_items(project, 1)[0]
    draft = GuidelineVersion.objects.create(project=project)
    cat = LabelClass.objects.get(project=project, name="cat")
    GuidelineExample.objects.create(version=draft, label_class=cat, item=item, text=item.payload["text"])
    services.publish_version(draft, manager, change_summary="examples")
    item.delete()
    example = GuidelineExample.objects.get(version=draft)
    assert example.item_id is None and example.text == "item number 0"


def test_deleting_a_project_removes_its_published_versions(project, published):
    Project.objects.filter(pk=project.pk).delete()
    assert not GuidelineVersion.objects.filter(pk=published.pk).exists()


def test_check_constraint_refuses_a_published_row_without_number(project):
    with pytest.raises(IntegrityError), transaction.atomic():
        GuidelineVersion.objects.bulk_create([GuidelineVersion(project=project, status="published")])
