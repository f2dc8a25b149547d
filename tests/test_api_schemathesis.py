"""The API keeps the promises of its own OpenAPI schema: Schemathesis calls every operation of
``/api/schema/`` on the live test server, as a manager and as an annotator, and checks that no
answer is a server error and every answer matches the schema (status code and body).

Bounded on purpose: a few derandomized examples per operation, once with generated path
parameters and once with the ids of a real project (classes, items, a published guideline,
annotations, a lease, gold, a snapshot, ...), so both the 404 paths and the real ones are called.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import requests
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import FlakyFailure
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from active.models import ModelRound, NoiseCheck
from annotators.qa.models import AdjudicationTask, AnnotatorFlag, GoldItem
from labelhub.guidelines.models import GuidelineVersion
from labelhub.production import services as production_services
from labelhub.projects.models import Annotation, ImportBatch, LabelClass, ProjectMembership
from labelhub.queues.models import Lease
from labelhub.snapshots import services as snapshot_services
from labelhub.snapshots.models import ModelRun
from labelhub.weak import services as weak_services
from tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXAMPLES_PER_OPERATION = 4
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


@dataclass
class World:
    """One project with something behind every id the API takes, and a token per role."""

    ids: dict[str, object]
    tokens: dict[str, str]


def build_world(base_url: str) -> World:
    project = factories.make_project(
        classes=("cat", "dog", "wolf"), overlap_fraction=0.5, overlap_annotators=2
    )
    manager = factories.make_member(project, "manager")
    annotator = factories.make_member(project, "annotator")
    other = factories.make_member(project, "annotator")
    items = factories.make_items(project, 12)
    # Null authors on purpose: the schema must say these may be null.
    guideline = GuidelineVersion.objects.create(
        project=project, number=1, status="published", body="Label the animal.", published_at=timezone.now()
    )
    draft = GuidelineVersion.objects.create(project=project, body="Next version.", based_on=guideline)
    for i, item in enumerate(items[:8]):
        Annotation.objects.create(
            item=item,
            annotator=annotator,
            labels=[("cat", "dog", "wolf")[i % 3]],
            guideline_version=guideline,
        )
        Annotation.objects.create(item=item, annotator=other, labels=["cat"], guideline_version=guideline)
    GoldItem.objects.create(item=items[8], labels=["dog"])
    task = AdjudicationTask.objects.create(project=project, item=items[1], reason="disagreement")
    flag = AnnotatorFlag.objects.create(
        project=project,
        annotator=other,
        kind="agreement",
        reason="0.2 < 0.6 over 8",
        value=0.2,
        threshold=0.6,
        sample_size=8,
    )
    ImportBatch.objects.create(project=project, format="jsonl", status="done", source="command")
    round_ = ModelRound.objects.create(
        project=project, number=1, state="done", strategy="entropy", batch_size=5
    )
    snapshot = snapshot_services.cut_snapshot(project, name="for schemathesis")[0]
    run = ModelRun.objects.create(snapshot=snapshot, name="baseline")
    deployment, _ = production_services.create_deployment(project, run, name="prod")
    function = weak_services.create_function(
        project, name="cats", kind="keyword", label="cat", config={"keywords": ["number"]}
    )
    weak_run = weak_services.execute_run(weak_services.start_run(project), method="majority")
    noise_check = NoiseCheck.objects.create(project=project, number=1, state="done")
    tokens = {
        "manager": Token.objects.create(user=manager).key,
        "annotator": Token.objects.create(user=annotator).key,
    }
    _serve_next(base_url, project.pk, guideline.pk, tokens["annotator"])
    lease = Lease.objects.filter(
        annotator=annotator, completed_at__isnull=True, released_at__isnull=True
    ).first()
    ids = {
        "project": project.pk,
        "class": LabelClass.objects.filter(project=project).first().pk,
        "item": items[0].pk,
        "gold_item": items[8].pk,
        "guideline": guideline.pk,
        "draft": draft.pk,
        "membership": ProjectMembership.objects.get(project=project, user=other).pk,
        "import": ImportBatch.objects.get(project=project).pk,
        "lease": lease.pk,
        "task": task.pk,
        "flag": flag.pk,
        "round": round_.pk,
        "snapshot": snapshot.content_hash,
        "model_run": run.pk,
        "deployment": deployment.pk,
        "labeling_function": function.pk,
        "weak_run": weak_run.pk,
        "noise_check": noise_check.pk,
    }
    return World(ids=ids, tokens=tokens)


def _serve_next(base_url: str, project_id: int, guideline_id: int, token: str) -> None:
    """A live lease for the annotator, taken the way a client takes one."""
    headers = {"Authorization": f"Token {token}"}
    acknowledged = requests.post(
        f"{base_url}/api/guidelines/{guideline_id}/acknowledge/", headers=headers, timeout=30
    )
    assert acknowledged.status_code in (200, 201), acknowledged.text
    response = requests.post(
        f"{base_url}/api/projects/{project_id}/queue/next/",
        headers={"Authorization": f"Token {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


_PARAMETER = re.compile(r"{(\w+)}")


def real_path_parameters(path: str, ids: dict[str, object]) -> dict[str, object]:
    """The path's parameters filled with ids that exist: which object ``{id}`` names depends on the
    resource in front of it."""
    by_name = {
        "project_id": ids["project"],
        "project_pk": ids["project"],
        "task_id": ids["task"],
        "lease_id": ids["lease"],
        "round_id": ids["round"],
        "item_id": ids["gold_item"],
        "flag_id": ids["flag"],
        "snapshot_id": ids["snapshot"],
        "other_id": ids["snapshot"],
        "deployment_id": ids["deployment"],
        "run_id": ids["weak_run"],
        "check_id": ids["noise_check"],
        "fmt": "jsonl",
    }
    by_resource = {
        "guidelines": ids["draft"] if "publish" in path or path.count("/") == 4 else ids["guideline"],
        "projects": ids["project"],
        "classes": ids["class"],
        "items": ids["item"],
        "members": ids["membership"],
        "imports": ids["import"],
        "model-runs": ids["model_run"],
        "labeling-functions": ids["labeling_function"],
    }
    values = {}
    for name in _PARAMETER.findall(path):
        if name == "id":
            resource = path.split("{id}")[0].rstrip("/").rsplit("/", 1)[-1]
            values[name] = by_resource[resource]
        else:
            values[name] = by_name[name]
    return values


def _order(operation) -> tuple:
    # Deletes last: the other operations still find what they delete.
    return (operation.method.upper() == "DELETE", operation.path, operation.method)


def _examples(strategy, base_url: str, session: requests.Session, headers: dict[str, str]):
    """A bounded, reproducible Hypothesis run of one operation: no shrinking, no example database."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=CHECKS)

    return run


def _explain(error: BaseException) -> str:
    """The error and, for a group (a flaky failure wraps the first one), every error inside it."""
    inner = getattr(error, "exceptions", ())
    return "\n".join([str(error), *(_explain(e) for e in inner)])


def test_every_operation_answers_as_its_schema_says(live_server):
    world = build_world(live_server.url)
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    assert len(operations) > 50
    failures: list[str] = []
    session = requests.Session()  # one connection pool for every call
    # The annotator first: the manager's calls may remove what the annotator's would need.
    for role in ("annotator", "manager"):
        headers = {"Authorization": f"Token {world.tokens[role]}"}
        for operation in operations:
            for fixed in (None, real_path_parameters(operation.path, world.ids)):
                strategy = operation.as_strategy(path_parameters=fixed or None)
                try:
                    _examples(strategy, live_server.url, session, headers)()
                except (Failure, FailureGroup, FlakyFailure) as error:
                    # Collected, so one run reports every operation that breaks its schema.
                    failures.append(
                        f"--- {role} {operation.method.upper()} {operation.path} ---\n{_explain(error)}"
                    )
    assert not failures, f"{len(failures)} failing operations:\n" + "\n".join(failures)
