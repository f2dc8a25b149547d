"""The admin console: snapshots are read-only, managers cut them from the console."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages.storage.fallback import FallbackStorage

from labelhub.projects.models import Project
from labelhub.snapshots import services
from labelhub.snapshots.admin import cut_snapshot_action
from labelhub.snapshots.models import Snapshot
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_manager(project):
    user = factories.make_user("lead", is_staff=True)
    user.is_superuser = True
    user.save()
    factories.make_member(project, "manager", user=user)
    return user


def test_cut_form_in_the_console(client, project, labelled, staff_manager):
    client.force_login(staff_manager)
    response = client.post("/admin/snapshots/snapshot/cut/", {"project": project.pk, "name": "console"})
    snapshot = Snapshot.objects.get()
    assert response.status_code == 302 and snapshot.name == "console"


def test_snapshot_change_page_is_read_only(client, project, labelled, staff_manager):
    snapshot, _ = services.cut_snapshot(project, name="frozen")
    client.force_login(staff_manager)
    url = f"/admin/snapshots/snapshot/{snapshot.pk}/change/"
    page = client.get(url)
    assert (
        page.status_code == 200
        and b'type="submit"' not in page.content.split(b"<footer")[0].split(b'id="content"')[1]
    )
    client.post(url, {"name": "renamed"})
    snapshot.refresh_from_db()
    assert snapshot.name == "frozen"
    assert client.post(f"/admin/snapshots/snapshot/{snapshot.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Snapshot.objects.filter(pk=snapshot.pk).exists()


def test_cut_action_refuses_non_managers(rf, project, labelled, annotator):
    request = rf.post("/")
    request.user = annotator  # staff count as managers of every project (the shared contract)
    request.session = {}
    request._messages = FallbackStorage(request)
    cut_snapshot_action(None, request, Project.objects.filter(pk=project.pk))
    assert not Snapshot.objects.exists()
    assert "only its managers" in str(list(request._messages)[0])


def test_cut_action_is_offered_on_projects():
    assert cut_snapshot_action in admin.site.get_model_admin(Project).actions
