"""``manage.py snapshot``."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from labelhub.snapshots.models import Snapshot

pytestmark = pytest.mark.django_db


def test_command_cuts_and_prints_the_id(project, labelled):
    out = io.StringIO()
    call_command(
        "snapshot",
        "--project",
        project.name,
        "--name",
        "nightly",
        "--ratios",
        "0.5,0.25,0.25",
        stdout=out,
        stderr=io.StringIO(),
    )
    snapshot = Snapshot.objects.get()
    assert out.getvalue().strip() == snapshot.content_hash
    assert snapshot.name == "nightly" and snapshot.split_ratios == {"train": 0.5, "val": 0.25, "test": 0.25}


def test_command_by_id_twice_reports_unchanged(project, labelled):
    call_command("snapshot", "--project", str(project.pk), stdout=io.StringIO(), stderr=io.StringIO())
    err = io.StringIO()
    call_command("snapshot", "--project", str(project.pk), stdout=io.StringIO(), stderr=err)
    assert "unchanged" in err.getvalue() and Snapshot.objects.count() == 1


def test_command_names_the_bad_argument(project, labelled):
    with pytest.raises(CommandError, match="--project: no project"):
        call_command("snapshot", "--project", "nope")
    with pytest.raises(CommandError, match="--ratios"):
        call_command("snapshot", "--project", str(project.pk), "--ratios", "1,2")


def test_command_pins_splits_to_the_external_id_and_names_a_bad_split_key(project, labelled):
    out = io.StringIO()
    call_command(
        "snapshot",
        "--project",
        str(project.pk),
        "--split-key",
        "external_id",
        stdout=out,
        stderr=io.StringIO(),
    )
    assert Snapshot.objects.get(content_hash=out.getvalue().strip()).split_key == "external_id"
    with pytest.raises(CommandError, match="--split-key: unknown split key 'moon'"):
        call_command("snapshot", "--project", str(project.pk), "--split-key", "moon", stderr=io.StringIO())
