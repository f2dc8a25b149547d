"""A real browser (Debian's Chromium via Playwright) labels with the keyboard and sees a push.

The ASGI app runs in-process under uvicorn in a thread, so HTTP, the WebSocket and the test share
one database and one channel layer (the in-memory layer works too). The queue update is
triggered over HTTP (the manager's fill endpoint), i.e. from the server, like a real refill.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import pytest
from django.db import connections
from rest_framework.authtoken.models import Token

from labelhub.projects.models import Annotation
from labelhub.queues.models import Lease
from tests import factories
from tests.browser import BROWSER_TEST, chromium

pytestmark = BROWSER_TEST


class SerialisedDatabase:
    """One user of the database at a time, for SQLite's in-memory test database only.

    Its connections share one cache, where a reader meeting another connection's open write gets
    "database table is locked" at once instead of waiting (PostgreSQL just waits). Each HTTP
    request, each WebSocket handshake (the membership check) and the test's own queries take the
    lock in turn.
    """

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.lock = threading.Lock()

    def __enter__(self):
        if self.enabled:
            self.lock.acquire()

    def __exit__(self, *exc):
        if self.enabled:
            self.lock.release()

    def wrap(self, app):
        if not self.enabled:
            return app
        import asyncio

        async def serialised(scope, receive, send):
            await asyncio.get_running_loop().run_in_executor(None, self.lock.acquire)
            held = True

            def release():
                nonlocal held
                if held:
                    held = False
                    self.lock.release()

            async def send_and_release(message):
                # A socket holds the lock only until its handshake is answered.
                if message["type"] in {"websocket.accept", "websocket.close"}:
                    release()
                await send(message)

            try:
                await app(scope, receive, send_and_release if scope["type"] == "websocket" else send)
            finally:
                release()

        return serialised


@pytest.fixture
def db_turns(transactional_db):
    return SerialisedDatabase(connections["default"].vendor == "sqlite")


@pytest.fixture
def asgi_server(db_turns, monkeypatch):
    """labelhub's ASGI application on 127.0.0.1 (uvicorn, in a thread of this process), serving the
    static files (the page's script modules) the way ``runserver`` does under DEBUG."""
    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from labelhub.asgi import application as labelhub_app

    application = ASGIStaticFilesHandler(db_turns.wrap(labelhub_app))

    # Request threads must not keep connections open past the test (the test DB is dropped).
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_level="warning",
            ws="websockets-sansio",
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the ASGI server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    connections.close_all()


@pytest.fixture
def browser_page():
    """A Chromium page; a script error on it (a module that fails to load or throws) fails the test."""
    with chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(15000)
        script_errors: list[str] = []
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        page.on(
            "response",
            lambda response: (
                script_errors.append(f"{response.status} {response.url}")
                if "/static/" in response.url and response.status >= 400
                else None
            ),
        )
        yield page
        assert script_errors == []
    # The test body ran inside Playwright's greenlet, whose database connection is its own.
    connections.close_all()


def post_json(url: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        return json.loads(response.read())


def test_annotator_labels_five_items_with_the_keyboard_and_sees_a_pushed_update(
    asgi_server, browser_page, db_turns
):
    from playwright.sync_api import expect

    project = factories.make_project(name="Animals", classes=("cat", "dog"), gold_rate=0, overlap_fraction=0)
    annotator = factories.make_member(
        project, "annotator", user=factories.make_user("ann", password="pw-ann-12345")
    )
    manager = factories.make_member(project, "manager")
    token = Token.objects.create(user=manager).key
    factories.make_items(project, 20, prefix="animal")  # the first fill queues all

    page = browser_page
    page.goto(f"{asgi_server}/accounts/login/")
    page.fill("input[name=username]", "ann")
    page.fill("input[name=password]", "pw-ann-12345")
    page.click("button[type=submit]")
    expect(page.locator("#project-list")).to_contain_text("Animals")
    page.goto(f"{asgi_server}/projects/{project.pk}/label/")
    expect(page.locator("#socket-state")).to_have_text("● live")

    labelled = {}
    for done in range(1, 6):
        expect(page.locator("#item-text")).to_be_visible()
        text = page.locator("#item-text").inner_text()
        assert text.startswith("animal number ")
        label = "dog" if done % 2 else "cat"
        page.keyboard.press("2" if label == "dog" else "1")
        expect(page.locator('.class-btn[aria-pressed="true"]')).to_have_count(1)
        page.keyboard.press("Enter")
        expect(page.locator("#done-today")).to_have_text(str(done))
        labelled[text] = [label]
    assert len(labelled) == 5

    deadline = time.monotonic() + 10
    stored: dict = {}
    while len(stored) < 5:
        assert time.monotonic() < deadline, "the five submits did not all reach the server"
        time.sleep(0.1)
        with db_turns:
            stored = dict(
                Annotation.objects.filter(annotator=annotator).values_list("item__payload__text", "labels")
            )
    # Submits go out in the background (the next item shows at once), so compare per item.
    assert stored == labelled

    with db_turns:
        factories.make_items(project, 4, prefix="fresh")
    result = post_json(f"{asgi_server}/api/projects/{project.pk}/queue/fill/", token, {"count": 4})
    assert result["added"] == 4
    expect(page.locator("#notices")).to_contain_text("Queue updated: 4 new item(s).")
    # The page handed its prefetched items back and leased the new top of the queue, no reload.
    deadline = time.monotonic() + 10
    released = 0
    while released < 3:
        assert time.monotonic() < deadline, "the page did not refresh its upcoming items"
        time.sleep(0.1)
        with db_turns:
            released = Lease.objects.filter(annotator=annotator, release_reason="released").count()
    expect(page.locator("#upcoming-count")).to_have_text("3")
    connections.close_all()


# A 2x2 PNG: the image path of the page, with no file served.
PIXEL_PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg=="


def test_image_items_multi_label_toggle_skip_flag_and_undo(asgi_server, browser_page, db_turns):
    from playwright.sync_api import expect

    from labelhub.projects.models import Item
    from labelhub.queues.models import ItemFlag

    project = factories.make_project(
        name="Photos", classes=("cat", "dog", "wolf"), modality="image", multi_label=True, gold_rate=0,
        overlap_fraction=0,
    )  # fmt: skip
    annotator = factories.make_member(
        project, "annotator", user=factories.make_user("img", password="pw-img-12345")
    )
    Item.objects.bulk_create(
        Item(
            project=project,
            external_id=f"photo-{i}",
            payload={"image": PIXEL_PNG, "n": i},
            content_hash=f"{i:064d}",
        )
        for i in range(6)
    )
    page = browser_page
    page.goto(f"{asgi_server}/accounts/login/")
    page.fill("input[name=username]", "img")
    page.fill("input[name=password]", "pw-img-12345")
    page.click("button[type=submit]")
    page.goto(f"{asgi_server}/projects/{project.pk}/label/")

    expect(page.locator("#item-image")).to_be_visible()
    expect(page.locator("#item-text")).to_be_hidden()
    # Multi-label: keys toggle; "2" twice leaves only cat and wolf.
    for key in ("1", "2", "3", "2"):
        page.keyboard.press(key)
    expect(page.locator('.class-btn[aria-pressed="true"]')).to_have_count(2)
    first_ref = page.locator("#item-ref").inner_text()
    page.keyboard.press("Enter")
    expect(page.locator("#done-today")).to_have_text("1")

    page.keyboard.press("s")  # skip
    expect(page.locator("#notices")).to_contain_text("Skipped")
    page.keyboard.press("f")  # flag, with a comment
    expect(page.locator("#flag-comment")).to_be_focused()
    page.keyboard.type("two animals in one photo")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#notices")).to_contain_text("Flagged")

    page.keyboard.press("z")  # undo the submit: the first photo is back with its labels
    expect(page.locator("#item-ref")).to_have_text(first_ref)
    expect(page.locator('.class-btn[aria-pressed="true"]')).to_have_count(2)
    expect(page.locator("#done-today")).to_have_text("0")

    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()

    deadline = time.monotonic() + 10
    while True:
        with db_turns:
            flags = list(ItemFlag.objects.filter(annotator=annotator).values_list("comment", flat=True))
            annotation = Annotation.objects.filter(annotator=annotator).first()
            reasons = sorted(
                Lease.objects.filter(annotator=annotator).values_list("release_reason", flat=True)
            )
        if flags and annotation is not None and annotation.retracted_at is not None:
            break
        assert time.monotonic() < deadline, "skip, flag and undo did not all reach the server"
        time.sleep(0.1)
    assert flags == ["two animals in one photo"]
    assert sorted(annotation.labels) == ["cat", "wolf"]
    assert "skipped" in reasons and "flagged" in reasons
    connections.close_all()
