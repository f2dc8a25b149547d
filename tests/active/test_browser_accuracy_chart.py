"""Real browser (Debian's Chromium): the active-learning page's accuracy chart after one round
and after several, at 1400, 1000 and 400 px. ``LABELHUB_BENCH_OUT=1`` saves screenshots under
bench/out/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import factories
from tests.active.builders import make_digits_project
from tests.active.test_views import make_done_rounds
from tests.browser import BROWSER_TEST, chromium, log_in

pytestmark = BROWSER_TEST

OUT = Path(__file__).resolve().parents[2] / "bench" / "out"
SAVE = os.environ.get("LABELHUB_BENCH_OUT") == "1"


@pytest.mark.parametrize("rounds", [[(29, 0.81)], [(20, 0.55), (40, 0.68), (80, 0.77), (160, 0.84)]])
def test_accuracy_chart_has_a_real_axis_and_titles_at_every_width(live_server, transactional_db, rounds):
    project, _, _ = make_digits_project(20)
    make_done_rounds(project, points=rounds)
    factories.make_member(project, "manager", user=factories.make_user("lead"))
    with chromium() as browser:
        page = log_in(browser, live_server.url, "lead", "pw-for-tests-1")
        for width in (1400, 1000, 400):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live_server.url}/active/projects/{project.pk}/")
            chart = page.locator("#accuracy-by-labels svg:visible")
            assert chart.count() == 1
            text = chart.inner_html()
            assert "labels trained on" in text and "held-out accuracy" in text
            assert chart.locator("circle").count() == len(rounds)
            box = chart.bounding_box()
            assert box["width"] > 250 and box["x"] + box["width"] <= width
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            if SAVE:
                OUT.mkdir(parents=True, exist_ok=True)
                chart.screenshot(path=str(OUT / f"al-accuracy-{len(rounds)}-rounds-{width}.png"))
