"""Real browser: the cut form says ratios must sum to 1 and pre-fills values its own inputs accept."""

from labelhub.snapshots import services
from labelhub.snapshots.models import Snapshot
from tests.browser import BROWSER_TEST, chromium, log_in

pytestmark = BROWSER_TEST


def test_ratios_must_sum_to_one_and_the_prefill_is_valid(
    live_server, transactional_db, project, labelled, manager
):
    # A snapshot cut through the API with weights: the form pre-fills its rescaled ratios.
    services.cut_snapshot(project, name="weights", ratios={"train": 0.9, "val": 0.3, "test": 0.1})
    with chromium() as browser:
        page = log_in(browser, live_server.url, manager.username, "pw-for-tests-1")
        page.goto(f"{live_server.url}/snapshots/projects/{project.pk}/")
        values = [page.input_value(f"input[name={n}]") for n in ("train", "val", "test")]
        assert abs(sum(map(float, values)) - 1) < 1e-9, values
        assert page.evaluate(
            "[...document.querySelectorAll('input[type=number]')].every(i => i.checkValidity())"
        )

        page.fill("input[name=train]", "0.9")
        page.fill("input[name=val]", "0.3")
        page.fill("input[name=test]", "0.1")
        page.click('button:has-text("Cut snapshot")')
        page.wait_for_load_state("domcontentloaded")
        assert "the ratios must sum to 1" in page.content()
        assert Snapshot.objects.count() == 1
