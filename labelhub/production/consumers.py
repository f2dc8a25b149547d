"""WebSocket of the production page: drift alarms of one project, pushed as they are raised."""

from __future__ import annotations

from labelhub.projects.consumers import ProjectGroupConsumer
from labelhub.projects.selectors import projects_with_visible_labels


def production_group(project_id: int) -> str:
    return f"production-{project_id}"


def _may_watch(user, project_id: int) -> bool:
    return projects_with_visible_labels(user).filter(pk=project_id).exists()


class DriftConsumer(ProjectGroupConsumer):
    """Joins ``production-<id>`` (managers, reviewers, staff); each alarm becomes ``{"event": "drift.alarm", ...}``."""

    may_join = staticmethod(_may_watch)
    group_for = staticmethod(production_group)

    async def drift_alarm(self, event: dict) -> None:
        await self.send_json({"event": "drift.alarm", **{k: v for k, v in event.items() if k != "type"}})
