"""CaptureClient against a live server: batches, the capture token, retries of busy answers."""

import pytest

from labelhub.client import CaptureClient, LabelhubError
from labelhub.production.models import Capture
from tests.production.builders import deployed_project, record

pytestmark = pytest.mark.django_db(transaction=True)


def test_capture_buffers_and_sends_batches_with_the_capture_token(live_server):
    project, deployment, token, _, _ = deployed_project()
    client = CaptureClient(
        live_server.url, project=project.pk, deployment=deployment.pk, token=token, batch_size=3
    )
    for i in range(4):
        client.capture(f"r{i}", {"text": f"seen {i}"}, "dog", probabilities=[0.2, 0.7, 0.1])
    assert Capture.objects.filter(deployment=deployment).count() == 3  # one full batch went
    assert client.flush() == {"received": 1, "created": 1, "duplicates": 0}
    assert client.send([record("r0")]) == {"received": 1, "created": 0, "duplicates": 1}


def test_a_bad_record_raises_naming_it_and_is_not_retried(live_server):
    project, deployment, token, _, _ = deployed_project()
    slept = []
    client = CaptureClient(
        live_server.url, project=project.pk, deployment=deployment.pk, token=token, sleep=slept.append
    )
    with pytest.raises(LabelhubError) as error:
        client.send([record("a"), record("b", prediction="zebra")])
    assert error.value.status == 400 and error.value.field == "records[1].prediction"
    assert slept == []


def test_busy_answers_are_retried_with_backoff(live_server, monkeypatch):
    project, deployment, token, _, _ = deployed_project()
    slept = []
    client = CaptureClient(
        live_server.url, project=project.pk, deployment=deployment.pk, token=token, sleep=slept.append
    )
    real = CaptureClient._json
    failures = iter([LabelhubError(503, "busy"), LabelhubError(502, "bad gateway")])

    def flaky(self, path, **kwargs):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real(self, path, **kwargs)

    monkeypatch.setattr(CaptureClient, "_json", flaky)
    assert client.send([record("a")])["created"] == 1
    assert slept == [0.5, 1.0]
