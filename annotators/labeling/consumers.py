"""WebSocket of the labeling page: forwards queue announcements of one project to its open pages."""

from __future__ import annotations

from labelhub.projects.consumers import ProjectGroupConsumer
from labelhub.projects.push import project_group
from labelhub.projects.selectors import has_role


class QueueConsumer(ProjectGroupConsumer):
    """Joins ``project-<id>`` (members); each ``queue.updated`` becomes ``{"event": "queue.updated", ...}``."""

    may_join = staticmethod(has_role)
    group_for = staticmethod(project_group)

    async def receive_json(self, content, **kwargs) -> None:
        # The page only listens; a ping keeps proxies from closing an idle socket.
        if isinstance(content, dict) and content.get("event") == "ping":
            await self.send_json({"event": "pong"})

    async def queue_updated(self, event: dict) -> None:
        details = {key: value for key, value in event.items() if key != "type"}
        await self.send_json({"event": "queue.updated", **details})
