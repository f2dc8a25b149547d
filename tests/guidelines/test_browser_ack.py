"""Real browser, end to end: a manager publishes a new version in the console; the annotator's next
request on the labeling page shows the acknowledgement with its change summary; once acknowledged,
labeling goes on.

The labeling page (``/projects/<id>/label/``) belongs to the queues part; this test is written
against its contract (``#guideline-ack``, ``#guideline-ack-confirm``, class keys, the 409 of
"next item") and is skipped until that page is routed.
"""

import time

import pytest
from django.db import connection

from labelhub.guidelines import services
from labelhub.guidelines.models import GuidelineAcknowledgement, GuidelineVersion
from labelhub.projects.models import Annotation
from labelhub.queues.models import Lease
from labelhub.queues.services import enqueue_items
from tests import factories
from tests.browser import chromium, chromium_missing, log_in


def _on_sqlite() -> bool:
    return connection.vendor == "sqlite"


pytestmark = [
    pytest.mark.browser,
    # The page fires requests that overlap (submit, next, status); SQLite's shared-cache in-memory
    # test database answers those with "database table is locked" instead of waiting. CI runs this
    # on PostgreSQL, where it is stable.
    pytest.mark.skipif(
        _on_sqlite(), reason="overlapping requests need PostgreSQL (in-memory SQLite locks tables)"
    ),
    pytest.mark.skipif(chromium_missing(), reason="Debian's chromium is not installed"),
]
SUMMARY = "Huskies are dogs, not wolves."


def test_annotator_acknowledges_a_new_version_before_labeling_on(live_server, transactional_db):
    project = factories.make_project(overlap_fraction=0, gold_rate=0)
    lead = factories.make_user("lead", is_staff=True)
    lead.is_superuser = True
    lead.save()
    factories.make_member(project, "manager", user=lead)
    annotator = factories.make_member(project, "annotator", user=factories.make_user("ann"))
    items = factories.make_items(project, 6)
    enqueue_items(project, [(item.pk, 1.0) for item in items], reason="random", batch_key="browser-test")
    v1 = services.publish_version(
        services.create_draft(project, lead, body="Label animals."), lead, change_summary="v1"
    )
    services.acknowledge(v1, annotator)
    draft = services.start_draft_from(v1, lead)

    with chromium() as browser:
        labeler = log_in(browser, live_server.url, "ann", "pw-for-tests-1")
        with labeler.expect_response(lambda r: "/queue/next/" in r.url and r.status == 200):
            labeler.goto(f"{live_server.url}/projects/{project.pk}/label/")
        assert not labeler.locator("#guideline-ack").is_visible()

        console = log_in(browser, live_server.url, "lead", "pw-for-tests-1", admin=True)
        console.goto(f"{live_server.url}/admin/guidelines/guidelineversion/{draft.pk}/change/")
        console.fill("#id_body", "Label animals. **Huskies are dogs.**")
        console.fill("#id_change_summary", SUMMARY)
        console.click("#guideline-publish")
        console.wait_for_load_state("networkidle")
        draft.refresh_from_db()
        assert draft.status == GuidelineVersion.Status.PUBLISHED

        # The annotator labels the item on screen (key of the first class, Enter submits); the
        # next request is refused until they acknowledge, and the page says why.
        with labeler.expect_response(lambda r: "/queue/next/" in r.url and r.status == 409):
            labeler.keyboard.press("1")
            labeler.keyboard.press("Enter")
        ack = labeler.locator("#guideline-ack")
        ack.wait_for(state="visible", timeout=5000)
        assert SUMMARY in ack.inner_text()

        with labeler.expect_response(lambda r: "/queue/next/" in r.url and r.status == 200):
            labeler.click("#guideline-ack-confirm")
        ack.wait_for(state="hidden", timeout=5000)
        labeler.wait_for_load_state("networkidle")

        # Labeling goes on, and what is labelled now is stamped with the new version.
        with labeler.expect_response(lambda r: "/submit/" in r.url and r.status == 201):
            labeler.keyboard.press("2")
            labeler.keyboard.press("Enter")

        # The new version is one key away: G opens the side panel with the rendered fragment.
        labeler.keyboard.press("g")
        panel = labeler.locator(f'.guideline-panel[data-version-number="{draft.number}"]')
        panel.wait_for(state="visible", timeout=5000)
        assert panel.locator("strong", has_text="Huskies are dogs.").count() == 1

        # Leaving the page hands its prefetched leases back (a keep-alive request the browser
        # sends on its own); wait until the server has done it, or that request reaches the
        # server after the test and holds a database session open past the teardown.
        labeler.goto("about:blank")
        live = Lease.objects.filter(annotator=annotator, released_at__isnull=True, completed_at__isnull=True)
        deadline = time.monotonic() + 10
        while live.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not live.exists(), "the page did not hand its leases back on leaving"
        # Playwright's sync API runs this block in a context of its own, where Django opened a
        # second connection (refresh_from_db, the queries above); close it here, or it stays
        # open past the test and PostgreSQL refuses to drop the test database.
        connection.close()

    assert GuidelineAcknowledgement.objects.filter(version=draft, user=annotator).exists()
    assert Annotation.objects.filter(annotator=annotator).latest("pk").guideline_version == draft
