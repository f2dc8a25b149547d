"""Lease expiry: live leases past their deadline give their entry's slot back, exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from labelhub.projects.models import Project
from labelhub.projects.push import announce_queue_update
from labelhub.queues.models import Lease, QueueEntry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpiredLease:
    lease_id: int
    entry_id: int
    item_id: int
    annotator_id: int
    project_id: int


def expire_leases(
    *, project: Project | None = None, now: datetime | None = None, announce: bool = True
) -> list[ExpiredLease]:
    """Mark live leases past their deadline as expired, freeing their entries' slots.

    Called by "next" for its project (so expiry needs no background process) and by the
    ``expire_leases`` command for every project. Rows being expired by a concurrent caller are
    skipped (SKIP LOCKED), and entries are updated in id order so two sweepers never deadlock.
    Each project with expirations is told over the channel layer, so open pages holding one of
    these leases can say so.
    """
    now = now or timezone.now()
    with transaction.atomic():
        expired = expire_overdue(project, now, announce=announce)
    if expired:
        logger.info("expired %d leases", len(expired))
    return expired


def expire_overdue(project: Project | None, now: datetime, *, announce: bool) -> list[ExpiredLease]:
    """The body of :func:`expire_leases`; call inside a transaction (``next`` uses its own)."""
    qs = Lease.objects.filter(released_at__isnull=True, completed_at__isnull=True, expires_at__lte=now)
    if project is not None:
        qs = qs.filter(entry__project=project)
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    rows = list(
        qs.order_by("entry_id").values_list(
            "pk", "entry_id", "entry__item_id", "annotator_id", "entry__project_id"
        )
    )
    if not rows:
        return []
    Lease.objects.filter(pk__in=[r[0] for r in rows]).update(
        released_at=now, release_reason=Lease.ReleaseReason.EXPIRED
    )
    per_entry: dict[int, int] = {}
    for row in rows:
        per_entry[row[1]] = per_entry.get(row[1], 0) + 1
    for entry_id in sorted(per_entry):
        QueueEntry.objects.filter(pk=entry_id).update(leased_count=F("leased_count") - per_entry[entry_id])
    expired = [ExpiredLease(*row) for row in rows]
    if announce:
        transaction.on_commit(lambda: _announce_expired(expired))
    return expired


def _announce_expired(expired: list[ExpiredLease]) -> None:
    by_project: dict[int, list[ExpiredLease]] = {}
    for lease in expired:
        by_project.setdefault(lease.project_id, []).append(lease)
    for project_id, leases in by_project.items():
        announce_queue_update(
            project_id,
            reason="leases_expired",
            expired_leases=[lease.lease_id for lease in leases],
            returned=len(leases),
        )
