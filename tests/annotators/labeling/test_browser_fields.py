"""A real browser shows every field of a several-field Label Studio config (two texts and a
data-bound header) in config order, as text, at desktop and phone widths, and labels by keyboard."""

from __future__ import annotations

import io
import json
import time

from django.db import connections

from labelhub.projects.importing import import_file
from labelhub.projects.models import Annotation
from labelhub.projects.services import create_project_from_label_config
from tests import factories
from tests.annotators.labeling.test_browser_labeling import asgi_server, browser_page, db_turns  # noqa: F401
from tests.browser import BROWSER_TEST, sign_in

pytestmark = BROWSER_TEST

NEWS = (
    '<View><Header value="$title"/><Text name="summary" value="$summary"/>'
    '<Text name="story" value="$body"/>'
    '<Choices name="topic" toName="story"><Choice value="sport"/><Choice value="politics"/></Choices></View>'
)
# Markup in user text must arrive as text: were it parsed, the <img> would exist and run its onerror.
TITLE = 'Cup final <img src="x" onerror="window.injected = 1">'


def test_the_labeling_page_shows_both_texts_and_the_header_and_labels_by_keyboard(
    asgi_server,  # noqa: F811
    browser_page,  # noqa: F811
    db_turns,  # noqa: F811
):
    from playwright.sync_api import expect

    project = create_project_from_label_config("News", NEWS, gold_rate=0, overlap_fraction=0)
    annotator = factories.make_member(project, user=factories.make_user("ann", password="pw-ann-12345"))
    tasks = [{"data": {"id": "n1", "title": TITLE, "summary": "City won.", "body": "City won 2-1 " * 60}}]
    import_file(project, io.BytesIO(json.dumps(tasks).encode()), "label_studio")

    page = browser_page
    sign_in(page, asgi_server, "ann", "pw-ann-12345")
    page.goto(f"{asgi_server}/projects/{project.pk}/label/")

    fields = page.locator("#item-fields")
    expect(fields).to_be_visible()
    expect(page.locator("h2.item-header")).to_have_text(TITLE)
    expect(fields.locator('[data-payload-key="summary"]')).to_have_text("City won.")
    expect(page.locator("#item-text")).to_contain_text("City won 2-1")
    expect(fields.locator("section.labelled")).to_contain_text("story")
    expect(fields.locator("section.labelled .labelled-mark")).to_have_text("labelled")
    assert fields.locator("img").count() == 1  # only the page's own (hidden) image element
    assert page.evaluate("window.injected") is None
    # Config order: the header, then the summary, then the labelled story.
    tops = [
        page.locator(selector).bounding_box()["y"]
        for selector in ("h2.item-header", '[data-payload-key="summary"]', "#item-text")
    ]
    assert tops == sorted(tops)

    # A phone: nothing wider than the screen, every field still there.
    page.set_viewport_size({"width": 400, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    for selector in ("h2.item-header", '[data-payload-key="summary"]', "#item-text"):
        box = page.locator(selector).bounding_box()
        assert box["width"] > 0 and box["x"] + box["width"] <= 400, selector

    page.keyboard.press("2")  # politics
    expect(page.locator('.class-btn[aria-pressed="true"]')).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#done-today")).to_have_text("1")
    deadline = time.monotonic() + 10
    stored: list = []
    while not stored:
        assert time.monotonic() < deadline, "the submit did not reach the server"
        time.sleep(0.1)
        with db_turns:
            stored = list(
                Annotation.objects.filter(annotator=annotator).values_list("item__external_id", "labels")
            )
    assert stored == [("n1", ["politics"])]
    connections.close_all()
