"""The API contract: a client generated from /api/schema/ by openapi-python-client imports in every
module and does the annotator's and the trainer's round (token → next → submit → snapshot export)
against the live server."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from labelhub.queues import services as queue_services
from tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PACKAGE = "labelhub_api_client"
PASSWORD = "pw-for-tests-1"


@pytest.fixture(scope="module")
def generated(tmp_path_factory, django_db_blocker):
    """The client generated into a temporary folder, importable as ``labelhub_api_client``."""
    root = tmp_path_factory.mktemp("generated")
    with django_db_blocker.unblock():
        schema = Client().get("/api/schema/", headers={"accept": "application/json"})
    assert schema.status_code == 200
    (root / "schema.json").write_bytes(schema.content)
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            "schema.json",
            "--output-path",
            PACKAGE,
            "--meta",
            "none",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_every_generated_module_imports(generated):
    failures, count = [], 0
    for module in pkgutil.walk_packages(generated.__path__, PACKAGE + "."):
        count += 1
        try:
            importlib.import_module(module.name)
        except Exception as exc:  # noqa: BLE001 - every failure is collected and reported
            failures.append(f"{module.name}: {exc!r}")
    assert count > 100
    assert failures == []


def _call(generated, operation: str, **kwargs):
    module = importlib.import_module(f"{PACKAGE}.api.{operation}")
    return module.sync_detailed(**kwargs)


def test_token_next_submit_and_snapshot_export_through_the_generated_client(generated, live_server):
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    annotator = factories.make_member(project, user=factories.make_user("gen-annotator", password=PASSWORD))
    manager = factories.make_member(
        project, "manager", user=factories.make_user("gen-manager", password=PASSWORD)
    )
    items = factories.make_items(project, 2)
    queue_services.enqueue_items(
        project, [(item.pk, float(-i)) for i, item in enumerate(items)], reason="random"
    )
    models = importlib.import_module(f"{PACKAGE}.models")
    anonymous = generated.Client(base_url=live_server.url, raise_on_unexpected_status=True)

    def token_for(user) -> str:
        body = models.AuthTokenRequest(username=user.username, password=PASSWORD)
        response = _call(generated, "token.token_create", client=anonymous, body=body)
        assert response.status_code == 200, response.content
        return response.parsed.token

    def client_for(user):
        return generated.AuthenticatedClient(
            base_url=live_server.url, token=token_for(user), prefix="Token", raise_on_unexpected_status=True
        )

    as_annotator = client_for(annotator)
    served = _call(
        generated, "projects.projects_queue_next_create", project_id=project.pk, client=as_annotator
    )
    assert served.status_code == 200, served.content
    lease = json.loads(served.content)["lease"]["id"]
    submitted = _call(
        generated,
        "leases.leases_submit_create",
        lease_id=lease,
        client=as_annotator,
        body=models.SubmitRequest(labels=["dog"], time_spent=2.5),
    )
    assert submitted.status_code == 201, submitted.content

    as_manager = client_for(manager)
    cut = _call(
        generated,
        "projects.projects_snapshots_create",
        project_id=project.pk,
        client=as_manager,
        body=models.CutRequest(name="generated"),
    )
    assert cut.status_code == 201, cut.content
    snapshot_id = cut.parsed.id
    exported = _call(
        generated,
        "snapshots.snapshots_export_retrieve",
        snapshot_id=snapshot_id,
        fmt="jsonl",
        client=as_manager,
    )
    assert exported.status_code == 200
    [row] = [json.loads(line) for line in exported.content.decode().splitlines()]
    assert (row["external_id"], row["labels"]) == ("item-0", ["dog"])
