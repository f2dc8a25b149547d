"""/api/docs/ (Swagger UI) and /api/redoc/ (ReDoc) render the API's operations in a real browser
with every request off the server refused: the assets come from drf-spectacular-sidecar."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.browser import chromium, chromium_missing

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(chromium_missing(), reason="Debian's chromium is not installed"),
]


def open_offline(browser, live_server, path: str):
    """The page at ``path`` with every request to another host aborted and recorded."""
    server = urlparse(live_server.url).netloc
    refused: list[str] = []
    context = browser.new_context()

    def route(request_route):
        if urlparse(request_route.request.url).netloc == server:
            request_route.continue_()
        else:
            refused.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(f"{live_server.url}{path}")
    return page, refused


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/api/docs/", ".opblock"),
        ("/api/redoc/", "[data-section-id^='tag/'] [data-section-id*='operation/']"),
    ],
    ids=["swagger-ui", "redoc"],
)
def test_the_docs_page_renders_the_operations_with_no_network(live_server, path, operation):
    with chromium() as browser:
        page, refused = open_offline(browser, live_server, path)
        page.wait_for_selector(operation, timeout=30_000)
        assert page.locator(operation).count() > 20
        assert "snapshots" in page.content()
        assert refused == []
