"""The queue's management commands: expire overdue leases, fill a project's queue."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from labelhub.queues import services
from labelhub.queues.models import Lease, QueueEntry
from tests import factories

pytestmark = pytest.mark.django_db


def test_expire_leases_command_returns_overdue_leases_to_the_queue():
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    user = factories.make_member(project)
    factories.make_items(project, 1)
    lease = services.lease_next_item(user, project)
    Lease.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("expire_leases", stdout=out)
    assert "expired 1 lease(s)" in out.getvalue()
    assert QueueEntry.objects.get().leased_count == 0


def test_fill_queue_command_queues_unlabelled_items():
    project = factories.make_project(overlap_fraction=0)
    factories.make_items(project, 7)
    out = StringIO()
    call_command("fill_queue", str(project.pk), "--count", "5", stdout=out)
    assert "queued 5 item(s)" in out.getvalue()
    assert QueueEntry.objects.filter(project=project).count() == 5


def test_fill_queue_command_names_a_missing_project():
    with pytest.raises(CommandError, match="No project with id 999999"):
        call_command("fill_queue", "999999")
