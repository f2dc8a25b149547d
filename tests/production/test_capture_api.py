"""The capture API: tokens, batches, idempotency, all-or-nothing rejection, outcomes."""

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from labelhub.production.models import Capture, Deployment
from tests.production.builders import captures_url, deployed_project, record, token_client

pytestmark = pytest.mark.django_db(transaction=False)


def test_a_manager_deploys_a_model_run_and_sees_its_token_once():
    project, deployment, _, client, _ = deployed_project()
    url = f"/api/projects/{project.pk}/deployments/"
    response = client.post(url, {"name": "canary", "model_run": deployment.model_run_id}, format="json")
    assert response.status_code == 201, response.json()
    token = response.json()["token"]
    assert len(token) > 30 and token.startswith(response.json()["token_prefix"])
    assert Deployment.objects.get(pk=response.json()["id"]).token_hash != token  # stored hashed
    listed = client.get(url).json()["results"]
    assert {d["name"] for d in listed} == {"prod", "canary"}
    assert all("token" not in d for d in listed)


def test_a_second_deployment_with_the_same_name_is_refused_naming_the_field():
    project, deployment, _, client, _ = deployed_project()
    response = client.post(
        f"/api/projects/{project.pk}/deployments/",
        {"name": "prod", "model_run": deployment.model_run_id},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "name"


def test_a_batch_is_stored_and_a_scoring_task_queued():
    _, deployment, token, _, _ = deployed_project()
    records = [
        record(f"k{i}", f"text {i}", "dog", probabilities=[0.1, 0.8, 0.1], source="web") for i in range(5)
    ]
    response = token_client(token).post(captures_url(deployment), {"records": records}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"received": 5, "created": 5, "duplicates": 0}
    capture = Capture.objects.get(deployment=deployment, key="k3")
    assert (
        capture.payload == {"text": "text 3"}
        and capture.prediction == ["dog"]
        and capture.predicted_class == 1
    )
    assert capture.source == "web"
    assert DBTaskResult.objects.filter(task_path__endswith="score_captures").count() == 1


def test_the_same_key_twice_is_stored_once():
    _, deployment, token, _, _ = deployed_project()
    client = token_client(token)
    batch = {"records": [record("a"), record("b"), record("a", "other text")]}
    first = client.post(captures_url(deployment), batch, format="json").json()
    again = client.post(captures_url(deployment), batch, format="json").json()
    assert first == {"received": 3, "created": 2, "duplicates": 1}
    assert again == {"received": 3, "created": 0, "duplicates": 3}
    assert Capture.objects.filter(deployment=deployment).count() == 2
    assert Capture.objects.get(key="a").payload == {"text": "hello"}  # the first of a key wins


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"prediction": "zebra"}, "records[1].prediction"),
        ({"probabilities": [0.5, 0.5]}, "records[1].probabilities"),
        ({"probabilities": [0.5, 0.6, 0.1]}, "records[1].probabilities"),
        ({"logits": [1, "x", 2]}, "records[1].logits"),
        ({"embedding": [0.1] * 10}, "records[1].embedding"),
        ({"input": {"txt": "no text"}}, "records[1].input.text"),
        ({"timestamp": "yesterday"}, "records[1].timestamp"),
        ({"key": ""}, "records[1].key"),
        ({"colour": "red"}, "records[1].colour"),
        ({"outcome": ["cat", "dog"]}, "records[1].outcome"),
    ],
)
def test_a_bad_record_rejects_the_batch_naming_it(bad, field):
    _, deployment, token, _, _ = deployed_project()
    records = [record("ok-0"), {**record("bad"), **bad}, record("ok-2")]
    response = token_client(token).post(captures_url(deployment), {"records": records}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field, response.json()
    assert not Capture.objects.exists()


def test_bad_vectors_among_good_ones_are_each_named_in_record_order():
    """Probabilities and embeddings are checked as columns; when a column fails, every bad
    record in it is still named, in order with the other fields' errors, and nothing is written."""
    _, deployment, token, _, _ = deployed_project()
    records = [
        record(f"r{i}", probabilities=[0.2, 0.3, 0.5], embedding=[0.01 * (i % 7)] * 384) for i in range(40)
    ]
    records[3]["embedding"] = [0.1] * 383 + ["x"]
    records[7]["probabilities"] = [0.2, 0.3, 0.6]
    records[11]["embedding"] = [1e39] * 384  # past float32's range
    records[15]["timestamp"] = "yesterday"
    records[20]["embedding"] = [[0.1] * 384]
    records[31]["probabilities"] = {"cat": 0.5, "dog": 0.5}  # by class name: fine
    response = token_client(token).post(captures_url(deployment), {"records": records}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [
        "records[3].embedding",
        "records[7].probabilities",
        "records[11].embedding",
        "records[15].timestamp",
        "records[20].embedding",
    ]
    assert [e["code"] for e in errors] == [
        "invalid_type",
        "invalid_probabilities",
        "invalid_number",
        "invalid_timestamp",
        "invalid_length",
    ]
    assert not Capture.objects.exists()


def test_a_batch_of_good_vectors_is_stored_row_by_row():
    _, deployment, token, _, _ = deployed_project()
    records = [record(f"r{i}", probabilities=[0.1, 0.2, 0.7], embedding=[i / 100] * 384) for i in range(5)]
    response = token_client(token).post(captures_url(deployment), {"records": records}, format="json")
    assert response.status_code == 200, response.json()
    import numpy as np

    for i in range(5):
        stored = Capture.objects.get(key=f"r{i}")
        assert np.allclose(np.frombuffer(bytes(stored.embedding), "<f4"), i / 100)
        assert np.allclose(np.frombuffer(bytes(stored.probabilities), "<f4"), [0.1, 0.2, 0.7])


def test_a_batch_over_ten_thousand_records_is_refused():
    _, deployment, token, _, _ = deployed_project()
    records = [record(f"k{i}") for i in range(10_001)]
    response = token_client(token).post(captures_url(deployment), {"records": records}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "records"


def test_probabilities_by_class_name_logits_and_an_embedding_are_accepted():
    _, deployment, token, _, _ = deployed_project()
    records = [
        record("p", probabilities={"dog": 0.7, "wolf": 0.3}, prediction="dog"),
        record("z", logits=[2.0, -1.0, 0.5], embedding=[0.01] * 384, timestamp="2026-12-01T10:00:00Z"),
    ]
    response = token_client(token).post(captures_url(deployment), {"records": records}, format="json")
    assert response.status_code == 200, response.json()
    import numpy as np

    stored = Capture.objects.get(key="p")
    assert np.allclose(np.frombuffer(bytes(stored.probabilities), "<f4"), [0, 0.7, 0.3])
    assert len(bytes(Capture.objects.get(key="z").embedding)) == 384 * 4
    assert Capture.objects.get(key="z").captured_at.isoformat().startswith("2026-12-01T10:00:00")


def test_the_capture_token_opens_nothing_but_its_own_captures():
    project, deployment, token, client, _ = deployed_project()
    other = client.post(
        f"/api/projects/{project.pk}/deployments/",
        {"name": "other", "model_run": deployment.model_run_id},
        format="json",
    ).json()
    capture_client = token_client(token)
    assert capture_client.get(f"/api/projects/{project.pk}/").status_code in (401, 403)
    assert capture_client.get(f"/api/projects/{project.pk}/deployments/").status_code in (401, 403)
    other_url = f"/api/projects/{project.pk}/deployments/{other['id']}/captures/"
    assert capture_client.post(other_url, {"records": [record("x")]}, format="json").status_code == 403
    assert (
        token_client("not-a-token")
        .post(captures_url(deployment), {"records": [record("x")]}, format="json")
        .status_code
        == 401
    )


def test_an_inactive_deployment_token_is_refused():
    _, deployment, token, _, _ = deployed_project()
    Deployment.objects.filter(pk=deployment.pk).update(is_active=False)
    response = token_client(token).post(captures_url(deployment), {"records": [record("x")]}, format="json")
    assert response.status_code == 401


def test_outcomes_update_earlier_captures_and_unknown_keys_are_named():
    _, deployment, token, _, _ = deployed_project()
    client = token_client(token)
    client.post(captures_url(deployment), {"records": [record("a"), record("b")]}, format="json")
    url = captures_url(deployment).replace("captures", "outcomes")
    bad = client.post(
        url, {"records": [{"key": "a", "outcome": "dog"}, {"key": "zz", "outcome": "cat"}]}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["field"] == "records[1].key"
    assert Capture.objects.get(key="a").outcome is None
    good = client.post(url, {"records": [{"key": "a", "outcome": "dog"}]}, format="json")
    assert good.json() == {"updated": 1}
    assert Capture.objects.get(key="a").outcome == ["dog"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's")
def test_a_key_stored_by_a_concurrent_batch_meanwhile_is_still_stored_once(monkeypatch):
    from labelhub.production import capture, services

    _, deployment, _, _, _ = deployed_project()
    services.capture_batch(deployment, [record("b")], enqueue_scoring=lambda d: None)
    # The lookup ran before the other batch committed "b": it finds nothing, the COPY then clashes.
    monkeypatch.setattr(capture, "stored_keys", lambda *args: set())
    answer = services.capture_batch(
        deployment, [record("a"), record("b"), record("c")], enqueue_scoring=lambda d: None
    )
    assert answer == {"received": 3, "created": 2, "duplicates": 1}
    assert sorted(Capture.objects.values_list("key", flat=True)) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"records": [{"key": "a", "input": {"text": "x"}, "prediction": "dog", "confidence": NaN}]}',
        b'{"records": [{"key": "a", "input": {"text": "\\ud800"}, "prediction": "dog"}]}',
        b'{"records": [{"key": "a", "input": {"text": "x"}, "prediction": "dog", "n": 1e999}]}',
        b'{"records": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"records": [',
    ],
    ids=["nan", "lone-surrogate", "overflow", "deep", "truncated"],
)
def test_a_body_that_is_not_plain_json_is_a_400_and_writes_nothing(body):
    _, deployment, token, _, _ = deployed_project()
    response = token_client(token).post(captures_url(deployment), body, content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"], response.json()
    assert not Capture.objects.exists()
