"""WebSocket of the production page: drift alarms of one project, pushed as they are raised."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from labelhub.projects.selectors import projects_with_visible_labels

CLOSE_NOT_ALLOWED = 4403


def production_group(project_id: int) -> str:
    return f"production-{project_id}"


def _may_watch(user, project_id: int) -> bool:
    return projects_with_visible_labels(user).filter(pk=project_id).exists()


class DriftConsumer(AsyncJsonWebsocketConsumer):
    """Joins ``production-<id>`` (managers, reviewers, staff); each alarm becomes ``{"event": "drift.alarm", ...}``."""

    group_name: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        if (
            user is None
            or not user.is_authenticated
            or not await database_sync_to_async(_may_watch)(user, project_id)
        ):
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.group_name = production_group(project_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group_name is not None:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def drift_alarm(self, event: dict) -> None:
        await self.send_json({"event": "drift.alarm", **{k: v for k, v in event.items() if k != "type"}})
