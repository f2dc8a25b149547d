"""The training client against a live server: fetch, verify, cache, resume, Dataset tensors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rest_framework.authtoken.models import Token

from labelhub.client import LabelhubClient, LabelhubError, SnapshotVerificationError, verify_rows
from labelhub.snapshots import services
from labelhub.snapshots.models import SnapshotItem
from tests import factories
from tests.snapshots.conftest import label

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def snapshot(project, labelled):
    return services.cut_snapshot(project, name="train me")[0]


@pytest.fixture
def client_for(live_server, tmp_path):
    def make(user) -> LabelhubClient:
        token, _ = Token.objects.get_or_create(user=user)
        return LabelhubClient(live_server.url, token.key, cache_dir=tmp_path / "cache")

    return make


def test_importing_the_client_does_not_import_torch():
    code = "import labelhub.client, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fetch_verifies_and_caches(client_for, manager, snapshot, tmp_path):
    client = client_for(manager)
    local = client.fetch_snapshot(snapshot.content_hash[:12])
    assert local.id == snapshot.content_hash
    assert (tmp_path / "cache" / "snapshots" / snapshot.content_hash / "items.jsonl").exists()
    assert sum(1 for _ in local.rows()) == 11
    # Cached: a client with a dead server still finds it.
    offline = LabelhubClient("http://127.0.0.1:9", "x", cache_dir=tmp_path / "cache")
    assert offline.fetch_snapshot(snapshot.content_hash).id == snapshot.content_hash


def test_dataset_yields_class_index_tensors(client_for, manager, snapshot):
    import torch  # heavy: only the Dataset tests load torch

    train = client_for(manager).fetch_snapshot(snapshot.content_hash).dataset("train", transform=str.upper)
    expected = {
        r.external_id: ["cat", "dog", "wolf"].index(r.labels[0])
        for r in SnapshotItem.objects.filter(snapshot=snapshot, split="train")
    }
    assert len(train) == len(expected) == snapshot.stats["splits"]["train"]
    for i, external_id in enumerate(train.external_ids):
        text, target = train[i]
        assert text == f"ITEM NUMBER {external_id.split('-')[1]}"
        assert target.dtype == torch.long and target.ndim == 0 and int(target) == expected[external_id]
    loader = torch.utils.data.DataLoader(train, batch_size=4)
    texts, targets = next(iter(loader))
    assert targets.shape == (min(4, len(train)),)


def test_multi_label_dataset_yields_multi_hot(client_for, manager, annotator):
    import torch  # heavy: only the Dataset tests load torch

    project = factories.make_project(multi_label=True)
    factories.make_member(project, "manager", user=manager)
    items = factories.make_items(project, 40)
    for item in items:
        label(item, ["cat", "wolf"], annotator)
    snapshot, _ = services.cut_snapshot(project, ratios={"train": 1, "val": 0, "test": 0})
    train = client_for(manager).dataset(snapshot.content_hash, "train")
    _, target = train[0]
    assert target.dtype == torch.float32
    assert target.tolist() == [1.0, 0.0, 1.0]
    assert len(train) == 40


def test_resume_appends_to_a_partial_download(client_for, manager, snapshot, tmp_path):
    first = client_for(manager).fetch_snapshot(snapshot.content_hash)  # also fills the server cache
    full = (first.path / "items.jsonl").read_bytes()
    other = LabelhubClient(
        client_for(manager).base_url, client_for(manager).token, cache_dir=tmp_path / "other"
    )
    partial_dir = tmp_path / "other" / "snapshots" / snapshot.content_hash
    partial_dir.mkdir(parents=True)
    (partial_dir / "items.jsonl.part").write_bytes(full[:200])
    local = other.fetch_snapshot(snapshot.content_hash)
    assert (local.path / "items.jsonl").read_bytes() == full


def test_tampered_rows_fail_verification(client_for, manager, snapshot, tmp_path):
    local = client_for(manager).fetch_snapshot(snapshot.content_hash)
    lines = (local.path / "items.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row["labels"] = ["wolf"] if row["labels"] != ["wolf"] else ["cat"]
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    with pytest.raises(SnapshotVerificationError, match="hash to"):
        verify_rows(tampered, local.manifest)


def test_register_model_run_points_back_to_the_snapshot(client_for, manager, snapshot):
    run = client_for(manager).register_model_run(
        snapshot.content_hash, "logreg", metrics={"accuracy": 0.75}, artifact_uri="file:///models/logreg.pkl"
    )
    assert run["snapshot_id"] == snapshot.content_hash
    assert snapshot.model_runs.get().metrics == {"accuracy": 0.75}


def test_refusal_names_the_field_and_detail(client_for, manager, snapshot):
    with pytest.raises(LabelhubError) as error:
        client_for(manager).register_model_run(snapshot.content_hash, "")
    refusal = error.value
    assert (refusal.status, refusal.field, refusal.code) == (400, "name", "blank")
    assert refusal.detail and f"HTTP 400 (name): {refusal.detail}" == str(refusal)


def test_error_body_that_is_not_json_is_kept_as_text():
    error = LabelhubError.from_response(502, b"<html>Bad gateway</html>")
    assert (error.status, error.detail, error.field) == (502, "<html>Bad gateway</html>", None)


def test_outsider_token_gets_404(client_for, outsider, snapshot):
    with pytest.raises(LabelhubError) as error:
        client_for(outsider).fetch_snapshot(snapshot.content_hash)
    assert error.value.status == 404


def test_bad_token_gets_401(live_server, snapshot, tmp_path):
    with pytest.raises(LabelhubError) as error:
        LabelhubClient(live_server.url, "not-a-token", cache_dir=tmp_path).fetch_snapshot(
            snapshot.content_hash
        )
    assert error.value.status == 401


def _edit_first_row(path, change) -> None:
    lines = path.read_text().splitlines()
    row = json.loads(lines[0])
    change(row)
    path.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")


def test_a_label_edited_in_the_cache_is_refused_when_opened(client_for, manager, snapshot, tmp_path):
    local = client_for(manager).fetch_snapshot(snapshot.content_hash)
    _edit_first_row(local.path / "items.jsonl", lambda row: row.update(labels=["wolf", "cat"]))
    offline = LabelhubClient("http://127.0.0.1:9", "x", cache_dir=tmp_path / "cache")
    with pytest.raises(SnapshotVerificationError, match="items.jsonl .* was changed since it was verified"):
        offline.fetch_snapshot(snapshot.content_hash)


def test_an_edited_cached_manifest_is_refused(client_for, manager, snapshot, tmp_path):
    local = client_for(manager).fetch_snapshot(snapshot.content_hash)
    manifest = json.loads((local.path / "manifest.json").read_text())
    manifest["class_names"] = ["dog", "cat", "wolf"]
    (local.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SnapshotVerificationError, match="manifest.json"):
        client_for(manager).fetch_snapshot(snapshot.content_hash)


def test_a_cache_without_a_seal_is_verified_in_full_then_sealed(client_for, manager, snapshot, tmp_path):
    local = client_for(manager).fetch_snapshot(snapshot.content_hash)
    (local.path / "seal.json").unlink()
    _edit_first_row(local.path / "items.jsonl", lambda row: row.update(labels=["wolf", "cat"]))
    with pytest.raises(SnapshotVerificationError, match="hash to"):
        client_for(manager).fetch_snapshot(snapshot.content_hash)


def test_a_tampered_payload_fails_verification(client_for, manager, snapshot, tmp_path):
    local = client_for(manager).fetch_snapshot(snapshot.content_hash)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes((local.path / "items.jsonl").read_bytes())
    _edit_first_row(tampered, lambda row: row["payload"].update(text="something else entirely"))
    with pytest.raises(SnapshotVerificationError, match="payload does not hash"):
        verify_rows(tampered, local.manifest)


@pytest.mark.parametrize("prefix_length", [1, 4, 7])
def test_a_prefix_shorter_than_8_is_refused_even_when_cached(
    client_for, manager, snapshot, tmp_path, prefix_length
):
    client_for(manager).fetch_snapshot(snapshot.content_hash)
    offline = LabelhubClient("http://127.0.0.1:9", "x", cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match="at least 8"):
        offline.fetch_snapshot(snapshot.content_hash[:prefix_length])
    assert offline.fetch_snapshot(snapshot.content_hash[:8]).id == snapshot.content_hash


def test_model_run_metrics_that_are_not_an_object_are_refused_naming_the_field(client_for, manager, snapshot):
    with pytest.raises(LabelhubError) as error:
        client_for(manager).register_model_run(snapshot.content_hash, "m", metrics=[1, 2])
    assert (error.value.status, error.value.field) == (400, "metrics")
