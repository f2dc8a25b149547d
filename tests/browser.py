"""Shared pieces of the real-browser tests: Debian's Chromium, never a downloaded browser."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
#: Where browser tests save screenshots when ``LABELHUB_BENCH_OUT=1`` (ignored by git).
BENCH_OUT = Path(__file__).resolve().parents[1] / "bench" / "out"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_missing() -> bool:
    return not os.path.exists(CHROMIUM)


#: A browser test module's ``pytestmark``: marked ``browser``, skipped where Chromium is missing.
BROWSER_TEST = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_missing(), reason="Debian's chromium is not installed"),
]


def save_screenshot(page, name: str) -> None:
    """A full-page screenshot as bench/out/NAME.png, only when ``LABELHUB_BENCH_OUT=1``."""
    if os.environ.get("LABELHUB_BENCH_OUT") == "1":
        BENCH_OUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(BENCH_OUT / f"{name}.png"), full_page=True)


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium; the Playwright driver runs an event loop, so the ORM must be told
    that sync calls from the test thread are fine (the live server answers in its own thread)."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def log_in(browser, base_url: str, username: str, password: str, *, admin: bool = False):
    """A new browser context logged in through the real login form."""
    page = browser.new_context().new_page()
    sign_in(page, base_url, username, password, admin=admin)
    return page


def sign_in(page, base_url: str, username: str, password: str, *, admin: bool = False) -> None:
    """Log ``page`` in through the real login form (the admin's when ``admin``)."""
    page.goto(f"{base_url}/admin/login/" if admin else f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("input[type=submit], button[type=submit]").last.click()
    page.wait_for_load_state("networkidle")


def overflowing(page, limit: int = 6) -> list[str]:
    """The page's elements reaching past the right edge of the viewport (tag#id.class width), to
    say what makes a page scroll sideways."""
    return page.evaluate(
        """limit => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(-limit)
            .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().width)}`)""",
        limit,
    )
