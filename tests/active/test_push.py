"""A finished round reaches an open labeling page: the queue WebSocket forwards its announcement."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connections

from active import services
from labelhub.routing import websocket_urlpatterns
from tests import factories
from tests.active.builders import label_items, make_digits_project, run_queued_tasks


@pytest.fixture(autouse=True)
async def close_consumer_connections(transactional_db):
    """The consumer and the worker read the database from other threads; close them for teardown."""
    yield
    await database_sync_to_async(connections.close_all)()


def build_labelled_project():
    project, items, y = make_digits_project(120, al_batch_size=6, al_trigger_labels=0)
    label_items(items[:40], y[:40])
    return project, factories.make_member(project, "annotator")


def run_round(project):
    model_round, _ = services.request_round(project)
    run_queued_tasks()  # on a transactional database the announcement goes out at the real commit
    model_round.refresh_from_db()
    return model_round


async def test_open_labeling_page_receives_the_rounds_queue_update(transactional_db):
    project, annotator = await database_sync_to_async(build_labelled_project)()
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/projects/{project.pk}/queue/"
    )
    communicator.scope["user"] = annotator
    connected, _ = await communicator.connect()
    assert connected
    model_round = await sync_to_async(run_round)(project)
    message = await communicator.receive_json_from(timeout=10)
    assert message == {
        "event": "queue.updated",
        "reason": "active",
        "round": model_round.pk,
        "model_version": model_round.pk,
        "count": 6,
    }
    await communicator.disconnect()
