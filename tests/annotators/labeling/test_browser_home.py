"""The home page in a real browser: its "Queue left" is what the labeling page then serves, its
figures and "Label →" never wrap, a long description ends on a whole word, and at 400 px the page
does not scroll sideways.

``LABELHUB_BENCH_OUT=1`` saves screenshots at 1400, 1000 and 400 px under bench/out/.
"""

from __future__ import annotations

from django.db import connections

from tests import factories
from tests.browser import BROWSER_TEST, save_screenshot, sign_in

pytestmark = BROWSER_TEST

DESCRIPTION = (
    "Customer support tickets from the spring release, in English and German, to be sorted by "
    "what the customer needs from us before the summer backlog review starts in earnest"
)


def one_line(locator) -> bool:
    """Whether the element's text sits on one line (no wrapped second line)."""
    return locator.evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el);"
        " return r.getClientRects().length === 1; }"
    )


def test_home_counts_what_labelling_serves_and_fits_every_width(asgi_server, browser_page):
    from playwright.sync_api import expect

    project = factories.make_project(
        name="Support tickets 2026", description=DESCRIPTION, gold_rate=0, overlap_fraction=0
    )
    factories.make_items(project, 12)  # none queued yet: "next" fills the queue on demand
    factories.make_member(project, "manager", user=factories.make_user("lead", password="pw-lead-12345"))
    page = browser_page
    sign_in(page, asgi_server, "lead", "pw-lead-12345")
    row = page.locator("#project-list tr", has_text="Support tickets 2026")
    expect(row.locator("td.queue-left")).to_have_text("12")
    description = row.locator("td.name .muted")
    shown = description.inner_text()
    assert shown.endswith("…") and DESCRIPTION.startswith(shown[:-1].rstrip()), shown
    assert DESCRIPTION[len(shown[:-1].rstrip())] == " ", "the description is cut inside a word"

    for width in (1400, 1000, 400):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, width
        for cell in ("td.queue-left", "td.go .button", "td.labelled .muted"):
            assert one_line(row.locator(cell)), (cell, width)
        button = row.locator("td.go .button").bounding_box()
        assert button["x"] + button["width"] <= width, width
        save_screenshot(page, f"home-{width}")

    page.set_viewport_size({"width": 1000, "height": 800})
    row.locator("td.go .button").click()
    expect(page.locator("#item-text")).to_be_visible()
    expect(page.locator("#queue-left")).to_have_text("12")  # the same figure the home page showed
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#queue-left")).to_have_text("11")
    page.goto(f"{asgi_server}/")
    expect(row.locator("td.queue-left")).to_have_text("11")
    connections.close_all()
