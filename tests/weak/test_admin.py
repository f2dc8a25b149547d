"""The console's labeling-function editor: the live-statistics panel and its page script."""

from __future__ import annotations

import pytest

from labelhub.weak import services
from labelhub.weak.admin import LabelingFunctionAdmin
from tests import factories
from tests.weak.builders import animal_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(client):
    client.force_login(factories.make_user("lead", is_staff=True, is_superuser=True))
    return client


def test_the_editor_has_a_live_panel_posting_to_the_project_preview(console):
    project = animal_project()
    function = services.create_function(
        project, name="dogs", kind="keyword", label="animal", config={"keywords": ["dog"]}
    )
    html = console.get(f"/admin/weak/labelingfunction/{function.pk}/change/").content.decode()
    placeholder = LabelingFunctionAdmin.PROJECT_PLACEHOLDER
    assert f'data-preview-url="/api/projects/{placeholder}/labeling-functions/preview/"' in html
    assert f'data-project-placeholder="{placeholder}"' in html and f'data-function="{function.pk}"' in html
    assert "/static/weak/preview.js" in html  # served from the app's static files, no CDN


def test_a_new_function_has_the_panel_without_a_function_id(console):
    html = console.get("/admin/weak/labelingfunction/add/").content.decode()
    assert 'class="lf-live-preview"' in html and 'data-function=""' in html


def test_the_panel_script_is_a_static_file_of_the_app():
    from django.contrib.staticfiles import finders

    found = finders.find("weak/preview.js")
    assert found and "labelhub/weak/static/weak/preview.js" in found.replace("\\", "/")
