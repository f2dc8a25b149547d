"""The one shape of a project's WebSocket: a user allowed to watch the project joins its group,
anyone else is closed with ``CLOSE_NOT_ALLOWED``. Pages subclass it with their rule and group."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

#: Close code for "not logged in or not allowed here" (the 4000-4999 range is the application's).
CLOSE_NOT_ALLOWED = 4403


class ProjectGroupConsumer(AsyncJsonWebsocketConsumer):
    """Joins ``group_for(project_id)`` when ``may_join(user, project_id)`` (a sync, database check)."""

    group_name: str | None = None

    @staticmethod
    def may_join(user, project_id: int) -> bool:
        raise NotImplementedError

    @staticmethod
    def group_for(project_id: int) -> str:
        raise NotImplementedError

    async def connect(self) -> None:
        user = self.scope.get("user")
        project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        if (
            user is None
            or not user.is_authenticated
            or not await database_sync_to_async(self.may_join)(user, project_id)
        ):
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.group_name = self.group_for(project_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group_name is not None:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
