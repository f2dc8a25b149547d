"""A real browser shows a weak label marked "weak", apart from the model's suggestion."""

from __future__ import annotations

from labelhub.weak import services as weak_services
from tests import factories
from tests.annotators.labeling.test_browser_labeling import asgi_server, browser_page, db_turns  # noqa: F401
from tests.browser import BROWSER_TEST
from tests.weak.builders import text_items

pytestmark = BROWSER_TEST


def test_the_labeling_page_marks_the_weak_suggestion_as_weak(asgi_server, browser_page, db_turns):  # noqa: F811
    from playwright.sync_api import expect

    project = factories.make_project(name="Pets", classes=("cat", "dog"), gold_rate=0, overlap_fraction=0)
    factories.make_member(project, "annotator", user=factories.make_user("ann", password="pw-ann-12345"))
    (item,) = text_items(project, ["a small dog barks"])
    item.suggestion = {"labels": ["cat"], "confidence": 0.55, "model_version": 1}
    item.save(update_fields=["suggestion"])
    weak_services.create_function(
        project, name="dogs", kind="keyword", label="dog", config={"keywords": ["dog"]}
    )
    weak_services.execute_run(weak_services.start_run(project), method="majority")

    page = browser_page
    page.goto(f"{asgi_server}/accounts/login/")
    page.fill("input[name=username]", "ann")
    page.fill("input[name=password]", "pw-ann-12345")
    page.click("button[type=submit]")
    page.goto(f"{asgi_server}/projects/{project.pk}/label/")
    expect(page.locator("#item-text")).to_have_text("a small dog barks")
    weak = page.locator("#weak-suggestion")
    expect(weak).to_be_visible()
    expect(weak.locator("mark.weak-badge")).to_have_text("weak")
    expect(weak).to_contain_text("dog (100 %)")
    assert weak.get_attribute("data-source") == "weak"
    # The model's suggestion stays its own, unmarked line; the buttons show which is which.
    expect(page.locator("#suggestion")).to_have_text("Model suggests: cat (55 %)")
    expect(page.locator('.class-btn.weak-suggested[data-name="dog"]')).to_have_count(1)
    expect(page.locator('.class-btn.suggested[data-name="cat"]')).to_have_count(1)
