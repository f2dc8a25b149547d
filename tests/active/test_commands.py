"""`al_round`: queue or run a round from the shell, and sweep stale ones."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from active.models import ModelRound
from labelhub.queues.models import QueueEntry
from tests.active.builders import label_items, make_digits_project

pytestmark = pytest.mark.django_db


def test_al_round_now_runs_the_round_in_process():
    project, items, y = make_digits_project(60, al_batch_size=7, al_trigger_labels=0)
    label_items(items[:30], y[:30])
    call_command("al_round", project=project.name, now=True, device="cpu")
    model_round = ModelRound.objects.get(project=project)
    assert model_round.state == ModelRound.State.DONE and model_round.device_used == "cpu"
    assert QueueEntry.objects.filter(project=project, reason="active").count() == 7


def test_al_round_without_now_only_queues():
    project, _, _ = make_digits_project(10)
    call_command("al_round", project=str(project.pk))
    assert ModelRound.objects.get(project=project).state == ModelRound.State.PENDING


def test_al_round_names_an_unknown_project():
    with pytest.raises(CommandError, match="no project with id or name 'nope'"):
        call_command("al_round", project="nope")


def test_cuda_on_a_machine_without_it_fails_clearly(monkeypatch):
    import torch

    from active.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="'cuda' was requested"):
        resolve_device("cuda")


@pytest.mark.django_db(transaction=True)
def test_al_worker_runs_queued_rounds_on_its_device():
    # transaction=True: the real worker loop closes connections between tasks.
    project, items, y = make_digits_project(40, al_batch_size=4, al_trigger_labels=0)
    label_items(items[:20], y[:20])
    call_command("al_round", project=str(project.pk))
    call_command("al_worker", device="cpu", batch=True)
    model_round = ModelRound.objects.get(project=project)
    assert model_round.state == ModelRound.State.DONE and model_round.device_used == "cpu"
    assert QueueEntry.objects.filter(project=project, reason="active").count() == 4
