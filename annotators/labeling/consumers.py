"""WebSocket of the labeling page: forwards queue announcements of one project to its open pages."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from labelhub.projects.push import project_group
from labelhub.projects.selectors import has_role

#: Close code for "not logged in or not a member" (the 4000-4999 range is the application's).
CLOSE_NOT_ALLOWED = 4403


class QueueConsumer(AsyncJsonWebsocketConsumer):
    """Joins ``project-<id>``; each ``queue.updated`` becomes ``{"event": "queue.updated", ...}``."""

    group_name: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        if (
            user is None
            or not user.is_authenticated
            or not await database_sync_to_async(has_role)(user, project_id)
        ):
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.group_name = project_group(project_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group_name is not None:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        # The page only listens; a ping keeps proxies from closing an idle socket.
        if isinstance(content, dict) and content.get("event") == "ping":
            await self.send_json({"event": "pong"})

    async def queue_updated(self, event: dict) -> None:
        details = {key: value for key, value in event.items() if key != "type"}
        await self.send_json({"event": "queue.updated", **details})
