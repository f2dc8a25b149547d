"""Small things an annotator notices, in a real browser: no toast for the refill the page itself
caused, a flag needs a reason, and a long text does not push the classes below the fold."""

from __future__ import annotations

import time

from django.db import connections

from labelhub.projects.models import Item
from labelhub.queues.models import ItemFlag, Lease
from tests import factories
from tests.browser import BROWSER_TEST, sign_in

pytestmark = BROWSER_TEST


def test_own_refill_is_silent_flag_needs_a_reason_and_long_texts_scroll(
    asgi_server, browser_page, db_turns, monkeypatch
):
    from playwright.sync_api import expect

    # Small fills, so that a "next" of this page refills the queue while its socket is live.
    monkeypatch.setattr("labelhub.queues.services.leasing.DEFAULT_FILL_SIZE", 4)
    project = factories.make_project(name="Essays", gold_rate=0, overlap_fraction=0)
    annotator = factories.make_member(project, user=factories.make_user("ess", password="pw-ess-12345"))
    Item.objects.bulk_create(  # nothing queued yet
        Item(
            project=project,
            external_id=f"essay-{i}",
            payload={"text": f"essay {i}: " + "a very long sentence " * 400},
            content_hash=f"{i:064d}",
        )
        for i in range(12)
    )
    page = browser_page
    page.set_viewport_size({"width": 1000, "height": 800})
    sign_in(page, asgi_server, "ess", "pw-ess-12345")
    page.goto(f"{asgi_server}/projects/{project.pk}/label/")
    expect(page.locator("#item-text")).to_be_visible()
    expect(page.locator("#upcoming-count")).to_have_text("3")
    expect(page.locator("#socket-state")).to_have_text("● live")
    # The four queued items are all held here: the next "next" fills the queue, and that fill's
    # announcement comes back to this very page.
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#done-today")).to_have_text("1")
    deadline = time.monotonic() + 10
    while True:
        with db_turns:
            held = Lease.objects.filter(annotator=annotator).count()
        if held >= 5:
            break
        assert time.monotonic() < deadline, f"the page did not refill ({held} leases)"
        time.sleep(0.1)
    time.sleep(1.5)
    expect(page.locator("#notices")).not_to_contain_text("Queue updated")
    with db_turns:
        assert not Lease.objects.filter(annotator=annotator, release_reason="released").exists()

    # A long text scrolls inside the item; the class buttons stay on screen.
    box = page.locator(".class-btn").first.bounding_box()
    assert box["y"] + box["height"] <= 800

    # F then Ctrl+Enter with nothing typed: the dialog stays and asks for a reason.
    page.keyboard.press("f")
    expect(page.locator("#flag-comment")).to_be_focused()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#flag-error")).to_be_visible()
    expect(page.locator("#flag-box")).to_be_visible()
    page.keyboard.type("two essays pasted together")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#notices")).to_contain_text("Flagged")
    deadline = time.monotonic() + 10
    while True:
        with db_turns:
            flags = list(ItemFlag.objects.filter(annotator=annotator).values_list("comment", flat=True))
        if flags:
            break
        assert time.monotonic() < deadline, "the flag did not reach the server"
        time.sleep(0.1)
    assert flags == ["two essays pasted together"]
    connections.close_all()


def test_full_guidelines_open_inside_the_acknowledgement_dialog(asgi_server, browser_page):
    from playwright.sync_api import expect

    from labelhub.guidelines import services as guideline_services

    project = factories.make_project(name="Rules", gold_rate=0, overlap_fraction=0)
    factories.make_member(project, user=factories.make_user("rul", password="pw-rul-12345"))
    factories.make_items(project, 3)
    body = "# Rules\n\n" + "\n\n".join(f"Rule {i}: label what you see." for i in range(80))
    draft = guideline_services.create_draft(project, body=body)
    guideline_services.publish_version(draft, change_summary="Eighty rules.")
    page = browser_page
    page.set_viewport_size({"width": 1000, "height": 700})
    sign_in(page, asgi_server, "rul", "pw-rul-12345")
    page.goto(f"{asgi_server}/projects/{project.pk}/label/")
    expect(page.locator("#guideline-ack")).to_be_visible()
    page.click("#ack-read-panel")
    box = page.locator("#ack-guidelines")
    expect(box).to_contain_text("Rule 79")
    # On top of the overlay (what is at its centre is inside it) and scrollable to the end.
    assert box.evaluate(
        "b => { const r = b.getBoundingClientRect();"
        " return b.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); }"
    )
    assert box.evaluate("b => b.scrollHeight > b.clientHeight")
    box.evaluate("b => { b.scrollTop = b.scrollHeight; }")
    assert box.evaluate("b => b.scrollTop > 0")
    page.click("#guideline-ack-confirm")
    expect(page.locator("#guideline-ack")).to_be_hidden()
    expect(page.locator("#item-text")).to_be_visible()
    connections.close_all()


def test_undo_stays_on_this_page_and_a_waiting_lease_is_renewed_when_shown(
    asgi_server, browser_page, db_turns
):
    import re

    from playwright.sync_api import expect

    from labelhub.projects.models import Annotation
    from labelhub.queues import services

    project = factories.make_project(name="Short leases", gold_rate=0, overlap_fraction=0, lease_minutes=1)
    annotator = factories.make_member(project, user=factories.make_user("shl", password="pw-shl-12345"))
    factories.make_items(project, 8)
    # An earlier session's label: a fresh page must not take it back.
    with db_turns:
        (earlier,) = services.lease_next_items(annotator, project)
        services.submit_annotation(earlier, ["cat"], annotator=annotator)
    page = browser_page
    page.set_viewport_size({"width": 1000, "height": 800})
    sign_in(page, asgi_server, "shl", "pw-shl-12345")
    page.goto(f"{asgi_server}/projects/{project.pk}/label/")
    expect(page.locator("#upcoming-count")).to_have_text("3")
    page.keyboard.press("z")
    expect(page.locator("#notices")).to_contain_text("Nothing to undo on this page")
    with db_turns:
        assert Annotation.objects.get(lease=earlier).retracted_at is None

    # The prefetched items have waited 7 s: the next one shown gets its lease renewed, so its
    # countdown starts near the full minute instead of where the wait left it.
    time.sleep(7)
    first = page.locator("#item-ref").inner_text()
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#item-ref")).not_to_have_text(first)
    expect(page.locator("#lease-timer")).to_have_text(re.compile(r"lease (1:00|0:5[5-9])"))

    # Undo on this page takes back this page's label.
    page.keyboard.press("z")
    expect(page.locator("#notices")).to_contain_text("Undone: cat")
    expect(page.locator("#item-ref")).to_have_text(first)
    with db_turns:
        assert Annotation.objects.get(lease=earlier).retracted_at is None
        assert Annotation.objects.filter(annotator=annotator, retracted_at__isnull=False).count() == 1

    # The shortcuts open beside the item, not over it, and the keys keep working meanwhile.
    page.set_viewport_size({"width": 1400, "height": 800})
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    item, sheet = page.locator("#item-text").bounding_box(), page.locator("#help").bounding_box()
    assert item["x"] + item["width"] <= sheet["x"], (item, sheet)
    for button in page.locator(".class-btn").all():
        box = button.bounding_box()
        assert box["x"] + box["width"] <= sheet["x"], box
    page.keyboard.press("2")
    expect(page.locator('.class-btn[aria-pressed="true"]')).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    connections.close_all()
