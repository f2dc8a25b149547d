"""The real-browser fixtures (in-process ASGI server, Chromium page, SQLite turn-taking), shared by
every browser test of the labeling page."""

from tests.annotators.labeling.test_browser_labeling import asgi_server, browser_page, db_turns  # noqa: F401
