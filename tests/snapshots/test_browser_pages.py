"""Real browser: the snapshot, guideline and active-learning pages of a project with data fit 1400,
1000 and 400 px without scrolling sideways; the snapshot page lists its guideline versions and
shows each item's text; the guideline diff shows a rewritten rule as the old block struck, then
the new one.

``LABELHUB_BENCH_OUT=1`` saves screenshots of each page at each width under bench/out/.
"""

from __future__ import annotations

from django.urls import reverse

from labelhub.guidelines import services as guideline_services
from labelhub.projects.models import Item
from labelhub.snapshots import services
from tests.browser import BROWSER_TEST, chromium, log_in, overflowing, save_screenshot
from tests.snapshots.conftest import label

pytestmark = BROWSER_TEST

V2 = (
    "Mark only the main animal you can see in the picture, never the background.\n\n"
    "- a cat on a sofa is a cat\n- a dog behind a fence counts as a dog when its head shows"
)


def test_project_pages_with_data_fit_every_width(
    live_server, transactional_db, project, labelled, manager, annotator
):
    first, _ = services.cut_snapshot(project, name="first")
    v1 = project.guideline_versions.get(number=1)
    v2 = guideline_services.publish_version(
        guideline_services.create_draft(project, manager, body=V2),
        manager,
        change_summary="Main animal only.",
    )
    long_text = "An unusually long description of what the photo shows, " * 12
    item = Item.objects.create(
        project=project, external_id="long-one", payload={"text": long_text}, content_hash="7" * 64
    )
    label(item, ["cat"], annotator, version=v2)
    second, _ = services.cut_snapshot(project, name="second")
    pages = {
        "snapshots": reverse("snapshots:project", args=[project.pk]),
        "snapshot": reverse("snapshots:detail", args=[second.content_hash]),
        "snapshot-diff": reverse("snapshots:diff", args=[first.content_hash, second.content_hash]),
        "guidelines": reverse("guidelines:project", args=[project.pk]),
        "guideline-diff": reverse("guidelines:diff", args=[project.pk]) + f"?from={v1.pk}&to={v2.pk}",
        "active-learning": reverse("active-project", args=[project.pk]),
    }
    with chromium() as browser:
        page = log_in(browser, live_server.url, manager.username, "pw-for-tests-1")
        for name, path in pages.items():
            response = page.goto(f"{live_server.url}{path}")
            assert response.status == 200, name
            for width in (1400, 1000, 400):
                page.set_viewport_size({"width": width, "height": 900})
                assert page.evaluate("document.documentElement.scrollWidth") <= width, (
                    name,
                    width,
                    overflowing(page),
                )
                save_screenshot(page, f"pages-{name}-{width}")
            page.set_viewport_size({"width": 1400, "height": 900})

        page.goto(f"{live_server.url}{pages['snapshot']}")
        assert page.locator("ul.guideline-versions li b").all_inner_texts() == ["v1", "v2"]
        cell = page.locator("tr", has_text="long-one").locator("td.item-text").inner_text()
        assert cell.startswith("An unusually long description") and cell.endswith("…")

        page.goto(f"{live_server.url}{pages['guideline-diff']}")
        body = page.locator("section", has_text="Guidelines").first
        struck = body.locator("del.diff-block")
        inserted = body.locator("ins.diff-block")
        assert struck.inner_text() == "Label the animal."
        assert inserted.first.inner_text().startswith("Mark only the main animal")
        # Old block above the new one, each a block of its own: no words interleaved in one line.
        assert struck.bounding_box()["y"] < inserted.first.bounding_box()["y"]
        assert body.locator(".diff-changed del").count() == 0
        # Rendered lists keep their markers.
        marker = body.locator("li").first.evaluate("li => getComputedStyle(li).listStyleType")
        assert marker == "disc"
