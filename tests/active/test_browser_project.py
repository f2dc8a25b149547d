"""Real browser (Debian's Chromium): the active-learning page shows the simulation's verdict, the
strategy table, the forecast and the control slice, and still reads at a phone's 400 px."""

from __future__ import annotations

from active.models import ActiveSettings
from tests import factories
from tests.active.builders import make_digits_project
from tests.active.test_views import add_control_slice, make_done_rounds, make_simulation, time_labels
from tests.browser import BROWSER_TEST, chromium, log_in

pytestmark = BROWSER_TEST


def test_project_page_shows_the_verdict_the_strategy_table_the_forecast_and_the_control_slice(
    live_server, transactional_db
):
    project, _, _ = make_digits_project(20)
    add_control_slice(make_done_rounds(project, eval_size=2000))
    make_simulation(project)
    time_labels(project, [10.0, 14.0, 12.0])
    ActiveSettings.objects.create(project=project, target_accuracy=0.9, cost_per_hour=40)
    factories.make_member(project, "manager", user=factories.make_user("lead"))

    with chromium() as browser:
        page = log_in(browser, live_server.url, "lead", "pw-for-tests-1")
        page.set_viewport_size({"width": 400, "height": 900})
        page.goto(f"{live_server.url}/active/projects/{project.pk}/")
        verdict = page.locator("#verdict")
        assert "auto reaches random's accuracy at 500 labels" in verdict.inner_text()
        auto = page.locator('#strategy-table tr[data-strategy="auto"]')
        assert "280 ± 19" in auto.inner_text() and "5/5" in auto.inner_text()
        forecast = page.locator("#forecast")
        assert forecast.get_attribute("data-status") == "forecast"
        text = forecast.inner_text()
        assert "labels in all reach 0.90 held-out accuracy" in text and "annotator-hours" in text
        control_slice = page.locator("#control-slice")
        text = control_slice.inner_text()
        assert "accuracy on 50 control items (95 % interval 0.670–0.888)" in text
        assert "active learning is beating random here." in text
        assert page.locator("#control-table tbody tr").count() == 5
        for box in (verdict, page.locator("#strategy-table"), forecast, control_slice):
            assert box.is_visible()
        # Nothing pushes the page sideways at 400 px: wide tables scroll inside their card.
        assert page.evaluate("document.documentElement.scrollWidth") <= 400

        page.fill("input[name=target_accuracy]", "0.85")
        page.click("#forecast button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#forecast").get_attribute("data-status") == "reached"

    assert ActiveSettings.objects.get(project=project).target_accuracy == 0.85
