"""Real browser (Debian's Chromium): the QA dashboard's plots at 1400, 1000 and 400 px, no
sideways scrolling, every plot drawn at a size its text can be read, and the page without
overlap saying so. ``LABELHUB_BENCH_OUT=1`` saves screenshots under bench/out/.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.utils import timezone

from annotators.qa import consensus, gold, policies
from labelhub.projects.models import Annotation, Item
from tests import factories
from tests.annotators.qa.builders import label, simulate_crowd
from tests.browser import BROWSER_TEST, chromium, log_in

pytestmark = BROWSER_TEST

OUT = Path(__file__).resolve().parents[3] / "bench" / "out"
SAVE = os.environ.get("LABELHUB_BENCH_OUT") == "1"
WIDTHS = (1400, 1000, 400)
PLOTS = (
    "agreement-over-time",
    "agreement-by-class",
    "confusion",
    "gold-confusion",
    "model-confusion",
    "gold-accuracy",
    "volume",
    "speed",
    "volume-over-time",
)

# For each plot card: the chart the page shows (the other width is hidden), its rendered width,
# and the smallest rendered text height in it.
MEASURE = """
(id) => {
  const card = document.getElementById(id);
  const shown = [...card.querySelectorAll('svg')].filter(s => s.getBoundingClientRect().width > 0);
  if (shown.length !== 1) return {shown: shown.length};
  const svg = shown[0];
  const heights = [...svg.querySelectorAll('text')].map(t => t.getBoundingClientRect().height)
    .filter(h => h > 0);
  const box = svg.getBoundingClientRect(), frame = card.getBoundingClientRect();
  return {shown: 1, width: box.width, inside: box.right <= frame.right + 1, smallest: Math.min(...heights)};
}
"""


def busy_project():
    """A crowd over a week, with gold answers, consensus, policy flags and a model's suggestions."""
    crowd = simulate_crowd(
        n_items=120,
        n_annotators=6,
        classes=("billing", "bug report", "feature request", "praise", "question"),
        bad_indices=(5,),
        qa_min_count=5,
    )
    project = crowd.project
    now = timezone.now()
    ids = list(Annotation.objects.filter(item__project=project).order_by("pk").values_list("pk", flat=True))
    for i, pk in enumerate(ids):
        Annotation.objects.filter(pk=pk).update(
            created_at=now - timedelta(minutes=7 * 24 * 60 * (1 - i / len(ids)))
        )
    gold.mark_gold(project, [(item.pk, [crowd.truth[item.pk]]) for item in crowd.items[:20]])
    consensus.compute_consensus(project)
    rng = np.random.default_rng(3)
    classes = ["billing", "bug report", "feature request", "praise", "question"]
    for item in crowd.items:
        guess = crowd.truth[item.pk] if rng.random() < 0.8 else classes[int(rng.integers(5))]
        Item.objects.filter(pk=item.pk).update(
            suggestion={"labels": [guess], "confidence": 0.7, "model_version": 1}
        )
    policies.evaluate_project(project)
    factories.make_member(project, "manager", user=factories.make_user("lead"))
    return project


def test_dashboard_plots_fit_and_read_at_every_width(live_server, transactional_db):
    project = busy_project()
    with chromium() as browser:
        page = log_in(browser, live_server.url, "lead", "pw-for-tests-1")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live_server.url}/qa/projects/{project.pk}/")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, width
            for name in PLOTS:
                measured = page.evaluate(MEASURE, f"plot-{name}")
                assert measured["shown"] == 1, (name, width)
                assert measured["inside"], (name, width)
                assert measured["smallest"] >= 10, (name, width, measured)  # px: no 7 px tick labels
            pairs = page.locator("text=Annotator pairs").locator("..").inner_text()
            assert "crowd" in pairs  # usernames, not ids
            if SAVE:
                OUT.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(OUT / f"qa-dashboard-{width}.png"), full_page=True)


def test_dashboard_without_overlap_counts_labels_and_says_why(live_server, transactional_db):
    project = factories.make_project(name="No overlap yet", gold_rate=0, overlap_fraction=0)
    who = factories.make_member(project)
    for item, name in zip(factories.make_items(project, 4), ["cat", "cat", "dog", "wolf"], strict=True):
        label(item, who, [name])
    factories.make_member(project, "manager", user=factories.make_user("lead"))
    with chromium() as browser:
        page = log_in(browser, live_server.url, "lead", "pw-for-tests-1")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live_server.url}/qa/projects/{project.pk}/")
            card = page.locator("#plot-agreement-by-class")
            assert "No item has two labels yet" in card.inner_text()
            assert card.locator("svg:visible rect title").count() == 3  # one bar per class chosen
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            if SAVE:
                OUT.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(OUT / f"qa-dashboard-no-overlap-{width}.png"), full_page=True)
