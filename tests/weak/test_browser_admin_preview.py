"""Real browser: the console's labeling-function editor shows the function's statistics live, on a
sample, as the definition is typed."""

from labelhub.weak import services
from tests import factories
from tests.browser import BROWSER_TEST, chromium, log_in
from tests.snapshots.conftest import label
from tests.weak.builders import animal_project, text_items

pytestmark = BROWSER_TEST


def test_typing_a_keyword_updates_the_live_statistics(live_server, transactional_db):
    project = animal_project()
    factories.make_user("lead", is_staff=True, is_superuser=True)
    dog, tree, _ = text_items(project, ["a dog barks", "a tall tree", "a cat sleeps"])
    annotator = factories.make_member(project, "annotator")
    label(dog, ["animal"], annotator)
    label(tree, ["plant"], annotator)
    function = services.create_function(
        project, name="animals", kind="keyword", label="animal", config={"keywords": ["tree"]}
    )

    with chromium() as browser:
        page = log_in(browser, live_server.url, "lead", "pw-for-tests-1", admin=True)
        page.goto(f"{live_server.url}/admin/weak/labelingfunction/{function.pk}/change/")
        panel = page.locator(".lf-live-preview")
        accuracy = panel.locator("[data-stat=accuracy]")
        accuracy.filter(has_text="0.0 % of 1").wait_for(timeout=5000)  # the saved definition, at once
        assert (
            panel.locator(".lf-wrong li")
            .inner_text()
            .startswith(f"item {tree.pk}: voted animal, answer plant — “a tall tree”")
        )

        page.locator("#id_config").fill("")
        page.locator("#id_config").press_sequentially('{"keywords": ["dog", "cat"]}')
        accuracy.filter(has_text="100.0 % of 1").wait_for(timeout=5000)
        assert panel.locator("[data-stat=coverage]").inner_text() == "66.7 % (2 of 3 items)"
        assert panel.locator(".lf-wrong li").count() == 0

        page.locator("#id_config").press("End")
        page.locator("#id_config").press("Backspace")  # the closing brace: not JSON any more
        panel.filter(has_text="config: not valid JSON yet.").wait_for(timeout=5000)

        page.locator("#id_config").fill('{"keywords": []}')  # the rules' own message, naming the field
        panel.filter(has_text="config.keywords").wait_for(timeout=5000)

    function.refresh_from_db()
    assert function.version == 1  # previewing saves nothing
