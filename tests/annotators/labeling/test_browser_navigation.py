"""Finding one's way around a project in a real browser: the sub-navigation on every project page
(by role), the "not a member" page, and no sideways scrolling at 1400, 1000 or 400 px.

``LABELHUB_BENCH_OUT=1`` saves screenshots of each page at 1400, 1000 and 400 px under bench/out/.
"""

from __future__ import annotations

from django.db import connections

from tests import factories
from tests.browser import BROWSER_TEST, save_screenshot, sign_in

pytestmark = BROWSER_TEST


def test_project_pages_share_a_sub_navigation_by_role(asgi_server, browser_page):
    from playwright.sync_api import expect

    project = factories.make_project(name="Support tickets", gold_rate=0, overlap_fraction=0)
    factories.make_items(project, 5)
    factories.make_member(project, "manager", user=factories.make_user("lead", password="pw-lead-12345"))
    page = browser_page
    sign_in(page, asgi_server, "lead", "pw-lead-12345")
    page.goto(f"{asgi_server}/projects/{project.pk}/label/")
    nav = page.locator("nav.project-nav")
    labels = nav.locator("a").all_inner_texts()
    assert labels == [
        "Label",
        "Guidelines",
        "Questions",
        "QA",
        "Adjudication",
        "Snapshots",
        "Active learning",
        "Data quality",
        "Production",
    ]
    expect(nav.locator('a[aria-current="page"]')).to_have_text("Label")
    # Every link opens its page, which shows the same navigation with itself as the current page.
    for label in labels:
        page.locator("nav.project-nav a", has_text=label).first.click()
        page.wait_for_load_state("domcontentloaded")
        expect(page.locator('nav.project-nav a[aria-current="page"]')).to_have_text(label)
        for width in (1400, 1000, 400):
            page.set_viewport_size({"width": width, "height": 900})
            # Wide tables scroll inside their card: the page itself never scrolls sideways.
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (label, width)
            slug = label.lower().replace(" ", "-")
            save_screenshot(page, f"nav-{slug}-{width}")
        page.set_viewport_size({"width": 1400, "height": 900})
    connections.close_all()


def test_annotator_sees_only_their_pages_and_an_outsider_a_friendly_refusal(asgi_server, browser_page):
    from playwright.sync_api import expect

    project = factories.make_project(name="Reviews", gold_rate=0, overlap_fraction=0)
    factories.make_member(project, "annotator", user=factories.make_user("ann", password="pw-ann-12345"))
    factories.make_user("stranger", password="pw-str-12345")
    page = browser_page
    sign_in(page, asgi_server, "ann", "pw-ann-12345")
    page.goto(f"{asgi_server}/projects/{project.pk}/label/")
    assert page.locator("nav.project-nav a").all_inner_texts() == ["Label", "Guidelines"]

    page.context.clear_cookies()
    sign_in(page, asgi_server, "stranger", "pw-str-12345")
    response = page.goto(f"{asgi_server}/projects/{project.pk}/label/")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text(
        "You are not a member of this project. Ask one of its managers to add you."
    )
    expect(page.locator("a.button")).to_have_text("Back to your projects")
    assert "URLconf" not in page.content()
    connections.close_all()
