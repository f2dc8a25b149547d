"""The labeling page's WebSocket, on the in-memory layer and on channels-redis."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import connections

from annotators.labeling.views import page_urls
from labelhub.projects.push import announce_queue_update
from labelhub.routing import websocket_urlpatterns
from tests import factories

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_layer_config() -> dict:
    """The settings' own Redis layer when REDIS_URL is set (so the test covers them), else alike."""
    configured = settings.CHANNEL_LAYERS["default"]
    if configured["BACKEND"] == "channels_redis.core.RedisChannelLayer":
        config = dict(configured["CONFIG"])
    else:
        config = {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]}
    config["prefix"] = f"labelhub-test-{uuid.uuid4().hex[:8]}"
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": config}}


@pytest.fixture(params=["memory", "redis"])
def channel_layer(request, settings):
    if request.param == "memory":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    else:
        if not redis_answers(REDIS_URL):
            pytest.skip(f"no Redis answers at {REDIS_URL}")
        settings.CHANNEL_LAYERS = redis_layer_config()
    return request.param


@pytest.fixture
def membership(transactional_db):
    project = factories.make_project()
    return project, factories.make_member(project)


@pytest.fixture(autouse=True)
async def close_consumer_connections(transactional_db):
    """The consumer reads the database from a worker thread; close its connection at the end so
    the test database can be dropped."""
    yield
    await database_sync_to_async(connections.close_all)()


def communicator_for(project_id: int, user) -> WebsocketCommunicator:
    from channels.routing import URLRouter

    # The path the labeling page is given, against the routes the ASGI app serves.
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), page_urls(project_id)["socket"])
    communicator.scope["user"] = user
    return communicator


async def test_member_receives_queue_updates(channel_layer, membership):
    project, user = membership
    communicator = communicator_for(project.pk, user)
    connected, _ = await communicator.connect()
    assert connected
    await sync_to_async(announce_queue_update)(project.pk, reason="filled", added=12)
    assert await communicator.receive_json_from(timeout=5) == {
        "event": "queue.updated",
        "reason": "filled",
        "added": 12,
    }
    await communicator.disconnect()


async def test_updates_of_other_projects_do_not_arrive(channel_layer, membership):
    project, user = membership
    communicator = communicator_for(project.pk, user)
    await communicator.connect()
    await sync_to_async(announce_queue_update)(project.pk + 1000, reason="filled", added=1)
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_anonymous_socket_is_closed(channel_layer, membership):
    project, _ = membership
    communicator = communicator_for(project.pk, AnonymousUser())
    connected, code = await communicator.connect()
    assert not connected and code == 4403


async def test_non_member_socket_is_closed(channel_layer, membership):
    project, _ = membership
    outsider = await sync_to_async(factories.make_user)()
    connected, code = await communicator_for(project.pk, outsider).connect()
    assert not connected and code == 4403


async def test_ping_is_answered(channel_layer, membership):
    project, user = membership
    communicator = communicator_for(project.pk, user)
    await communicator.connect()
    await communicator.send_json_to({"event": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"event": "pong"}
    await communicator.disconnect()


async def test_idle_redis_socket_still_receives_after_six_seconds(membership, settings):
    """redis-py 8 drops a connection idle past socket_timeout (5 s); settings pass None."""
    if not redis_answers(REDIS_URL):
        pytest.skip(f"no Redis answers at {REDIS_URL}")
    settings.CHANNEL_LAYERS = redis_layer_config()
    project, user = membership
    communicator = communicator_for(project.pk, user)
    connected, _ = await communicator.connect()
    assert connected
    await asyncio.sleep(6.5)
    await sync_to_async(announce_queue_update)(project.pk, reason="reprioritised", changed=3)
    assert await communicator.receive_json_from(timeout=5) == {
        "event": "queue.updated",
        "reason": "reprioritised",
        "changed": 3,
    }
    await communicator.disconnect()
