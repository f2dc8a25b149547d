"""Real browser: the console editor previews markdown live (sanitised) and publishes."""

from labelhub.guidelines import services
from labelhub.guidelines.models import GuidelineVersion
from tests import factories
from tests.browser import BROWSER_TEST, chromium, log_in

pytestmark = BROWSER_TEST


def test_admin_editor_previews_and_publishes(live_server, transactional_db):
    project = factories.make_project()
    staff_manager = factories.make_user("lead", is_staff=True)
    staff_manager.is_superuser = True
    staff_manager.save()
    factories.make_member(project, "manager", user=staff_manager)
    draft = services.create_draft(project, staff_manager, body="start")

    with chromium() as browser:
        page = log_in(browser, live_server.url, "lead", "pw-for-tests-1", admin=True)
        page.goto(f"{live_server.url}/admin/guidelines/guidelineversion/{draft.pk}/change/")
        page.fill("#id_body", '# Wolves\n\n**Grey** and wild. <img src=x onerror="window.pwned=1">')
        preview = page.locator(".markdown-preview[data-for=id_body]")
        preview.locator("h1", has_text="Wolves").wait_for(timeout=5000)
        assert preview.locator("strong", has_text="Grey").count() == 1
        assert "onerror" not in preview.inner_html()
        assert page.evaluate("window.pwned === undefined")
        page.fill("#id_change_summary", "Wolves are wild.")
        page.click("#guideline-publish")
        page.wait_for_load_state("networkidle")
        assert "Published" in page.content()

    draft.refresh_from_db()
    assert (draft.status, draft.number, draft.change_summary) == (
        GuidelineVersion.Status.PUBLISHED,
        1,
        "Wolves are wild.",
    )


def test_new_draft_button_on_a_published_version_starts_a_draft(live_server, transactional_db):
    """The click, not a direct POST: the button sits inside the admin's change form."""
    project = factories.make_project()
    lead = factories.make_user("lead", is_staff=True)
    lead.is_superuser = True
    lead.save()
    factories.make_member(project, "manager", user=lead)
    draft = services.create_draft(project, lead, body="# Cats\n\nSmall and tame.")
    published = services.publish_version(draft, lead, change_summary="First.")

    with chromium() as browser:
        page = log_in(browser, live_server.url, "lead", "pw-for-tests-1", admin=True)
        page.goto(f"{live_server.url}/admin/guidelines/guidelineversion/{published.pk}/change/")
        with page.expect_navigation():
            page.click("#guideline-new-draft")
        assert "New draft started from" in page.content()
        assert "/change/" in page.url

    new = GuidelineVersion.objects.exclude(pk=published.pk).get()
    assert new.status == GuidelineVersion.Status.DRAFT and new.based_on_id == published.pk
    assert new.body == published.body
