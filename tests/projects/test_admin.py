"""The admin console: every page loads for staff; import and config views call the services."""

import io

import pytest
from django.urls import reverse

from labelhub.projects.importing import ImportRejected, import_file
from labelhub.projects.models import Annotation, ImportBatch, Item, LabelClass, Project, ProjectMembership
from tests import factories

pytestmark = pytest.mark.django_db

CONFIG = (
    '<View><Image name="i" value="$image"/><Choices name="c" toName="i"><Choice value="a"/></Choices></View>'
)


@pytest.fixture
def staff_client(client):
    admin_user = factories.make_user("boss", is_staff=True)
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    return client


@pytest.fixture
def populated(project, annotator):
    item = factories.make_items(project, 2)[0]
    Annotation.objects.create(item=item, annotator=annotator, labels=["cat"])
    import_file(project, io.BytesIO(b'{"text": "imported"}\n'), "jsonl", filename="ok.jsonl")
    with pytest.raises(ImportRejected):  # the failed batch is what the pages should show
        import_file(project, io.BytesIO(b'{"nope": 1}\n'), "jsonl", filename="bad.jsonl")
    return project


@pytest.mark.parametrize("model", [Project, LabelClass, ProjectMembership, Item, ImportBatch, Annotation])
def test_changelist_and_change_pages_load(staff_client, populated, model):
    info = model._meta.app_label, model._meta.model_name
    assert staff_client.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 200
    obj = model.objects.first()
    assert staff_client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk])).status_code == 200


def test_item_search_by_text(staff_client, populated):
    response = staff_client.get(reverse("admin:projects_item_changelist"), {"q": "imported"})
    assert response.status_code == 200
    assert b"imported" in response.content


def test_failed_batch_page_shows_its_errors(staff_client, populated):
    failed = ImportBatch.objects.get(status="failed")
    response = staff_client.get(reverse("admin:projects_importbatch_change", args=[failed.pk]))
    assert b"missing: a text project needs a &#x27;text&#x27; field" in response.content


def test_import_view_uploads_through_the_importer(staff_client, project):
    url = reverse("admin:projects_project_import", args=[project.pk])
    assert staff_client.get(url).status_code == 200
    upload = io.BytesIO(b'{"text": "from the console"}\n')
    upload.name = "console.jsonl"
    response = staff_client.post(url, {"file": upload, "format": ""})
    batch = ImportBatch.objects.get(project=project)
    assert response.status_code == 302
    assert (batch.source, batch.imported_count) == ("upload", 1)


def test_import_view_shows_line_errors_and_imports_nothing(staff_client, project):
    upload = io.BytesIO(b"id,text\n1,fine\n2,\n")
    upload.name = "broken.csv"
    response = staff_client.post(
        reverse("admin:projects_project_import", args=[project.pk]), {"file": upload}
    )
    assert response.status_code == 200
    assert b"<td>3</td>" in response.content
    assert not Item.objects.filter(project=project).exists()


def test_create_from_label_config_view_and_action(staff_client, project):
    url = reverse("admin:projects_project_from_label_config")
    response = staff_client.post(url, {"name": "Pictures", "label_config": CONFIG})
    created = Project.objects.get(name="Pictures")
    assert response.status_code == 302
    assert (created.modality, list(created.classes.values_list("name", flat=True))) == ("image", ["a"])
    action = staff_client.post(
        reverse("admin:projects_project_changelist"),
        {"action": "create_from_label_config", "_selected_action": [created.pk]},
    )
    assert action.status_code == 302
    assert action["Location"].endswith(f"?from={created.pk}")
    prefilled = staff_client.get(action["Location"])
    assert b"Pictures (copy)" in prefilled.content


def test_create_from_label_config_view_shows_unsupported_tag(staff_client):
    bad = CONFIG.replace(
        "</View>", '<KeyPointLabels name="k" toName="i"><Label value="x"/></KeyPointLabels></View>'
    )
    response = staff_client.post(
        reverse("admin:projects_project_from_label_config"), {"name": "Points", "label_config": bad}
    )
    assert response.status_code == 200
    assert b"KeyPointLabels" in response.content


def test_project_form_offers_the_real_strategies_as_a_choice(staff_client):
    from active.strategies import STRATEGIES

    page = staff_client.get(reverse("admin:projects_project_add")).content.decode()
    assert '<select name="al_strategy"' in page
    for name in STRATEGIES:
        assert f'<option value="{name}"' in page
    assert "AL strategy" in page


def test_a_project_created_in_the_console_is_managed_by_its_creator(rf):
    from django.contrib import admin as django_admin

    from labelhub.projects.admin import ProjectAdmin

    creator = factories.make_user("lead", is_staff=True)
    request = rf.post("/admin/projects/project/add/")
    request.user = creator
    project = Project(name="From the console", modality="text")
    ProjectAdmin(Project, django_admin.site).save_model(request, project, form=None, change=False)
    assert project.created_by == creator
    member = ProjectMembership.objects.get(project=project)
    assert (member.user, member.role) == (creator, ProjectMembership.Role.MANAGER)
