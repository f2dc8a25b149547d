"""The console's project page in a real browser: a project created there opens on its own page
with a first-run checklist that ticks itself from the project's state, its creator is its
manager, "AL strategy" is a choice, and the page (class editor included) fits 1400, 1000 and 400 px.

``LABELHUB_BENCH_OUT=1`` saves screenshots of the page at each width under bench/out/.
"""

from __future__ import annotations

from labelhub.guidelines import services as guideline_services
from labelhub.projects.models import Annotation, Item, Project, ProjectMembership
from tests import factories
from tests.browser import BROWSER_TEST, chromium, log_in, save_screenshot

pytestmark = BROWSER_TEST


def steps(page) -> dict[str, bool]:
    rows = page.locator("#project-checklist li")
    return {
        rows.nth(i).get_attribute("data-step"): "done" in rows.nth(i).get_attribute("class")
        for i in range(rows.count())
    }


def test_a_new_project_opens_on_a_checklist_that_ticks_itself(live_server, transactional_db):
    lead = factories.make_user("lead", is_staff=True)
    lead.is_superuser = True
    lead.save()
    with chromium() as browser:
        page = log_in(browser, live_server.url, "lead", "pw-for-tests-1", admin=True)
        page.goto(f"{live_server.url}/admin/projects/project/add/")
        assert page.locator("select#id_al_strategy").count() == 1  # a choice, not free text
        page.fill("#id_name", "Support tickets")
        page.locator("input[name=_save]").click()
        page.wait_for_load_state("domcontentloaded")

        project = Project.objects.get(name="Support tickets")
        assert page.url.endswith(f"/admin/projects/project/{project.pk}/change/")
        assert ProjectMembership.objects.filter(
            project=project, user=lead, role=ProjectMembership.Role.MANAGER
        ).exists()
        assert page.locator("#project-checklist h2").inner_text() == "Getting started: 0 of 5 done"
        assert set(steps(page).values()) == {False}
        assert (
            "annotators see only the projects they are members of"
            in page.locator("#project-checklist li[data-step=members]").inner_text()
        )

        # The page at three widths (with a dozen classes in the class editor): no sideways scroll.
        for i in range(12):
            project.classes.create(name=f"class-with-a-long-name-{i}", key="", order=i, description="d " * 30)
        page.reload()
        for width in (1400, 1000, 400):
            page.set_viewport_size({"width": width, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= width, width
            save_screenshot(page, f"console-project-{width}")
        page.set_viewport_size({"width": 1400, "height": 900})

        # Each step ticks from the project's real state.
        annotator = factories.make_member(project, "annotator")
        items = factories.make_items(project, 3)
        guideline_services.publish_version(
            guideline_services.create_draft(project, lead, body="Label the ticket."),
            lead,
            change_summary="v1",
        )
        project.balance_target = {"uniform": True}
        project.gold_rate = 0
        project.save()
        page.reload()
        assert steps(page) == {
            "members": True,
            "items": True,
            "guidelines": True,
            "qa": True,
            "labelling": False,
        }
        Annotation.objects.create(item=items[0], annotator=annotator, labels=["class-with-a-long-name-0"])
        page.reload()
        assert page.locator("#project-checklist h2").inner_text() == "Set-up complete"

        # The links lead where the work is done.
        page.locator("#project-checklist li[data-step=qa] a").click()
        assert page.locator("#id_gold_rate").is_visible()
        page.locator("#project-checklist li[data-step=items] a").click()
        page.wait_for_load_state("domcontentloaded")
        assert page.url.endswith(f"/admin/projects/project/{project.pk}/import/")
    assert Item.objects.filter(project=project).count() == 3
