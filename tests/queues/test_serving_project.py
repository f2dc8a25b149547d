"""The serve gate "next" reads on every call, compiled to SQL once (labelhub.compiled): the same
answer as the queryset it caches, for every kind of caller, and no compilation after the first."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.db.utils import DEFAULT_DB_ALIAS
from rest_framework.test import APIClient

from labelhub.compiled import CompiledQuery
from labelhub.guidelines import services as guideline_services
from labelhub.guidelines.models import GuidelineVersion
from labelhub.projects.models import Annotation, Project, ProjectMembership
from labelhub.projects.selectors import projects_for_user
from labelhub.queues import services
from labelhub.queues.services import leasing
from labelhub.queues.services.filling import mark_exhausted
from tests import factories

pytestmark = pytest.mark.django_db

GATE = (
    "gate_paused",
    "gate_paused_reason",
    "queue_exhausted_at",
    "current_guideline_id",
    "current_guideline_acknowledged",
)


def by_the_orm(user, project_id):
    return services.with_serve_gate(projects_for_user(user), user).filter(pk=project_id).first()


def same_answer(user, project_id):
    compiled, orm = services.serving_project(user, project_id), by_the_orm(user, project_id)
    if orm is None:
        assert compiled is None
        return None
    assert compiled is not None
    assert compiled.pk == orm.pk and compiled.name == orm.name and compiled.gold_rate == orm.gold_rate
    assert {f: getattr(compiled, f) for f in GATE} == {f: getattr(orm, f) for f in GATE}
    return compiled


def test_every_kind_of_caller_gets_what_the_queryset_gives():
    project, other = factories.make_project(), factories.make_project()
    manager = factories.make_user("m")
    version = GuidelineVersion.objects.create(project=project, body="Label what you see.")
    version = guideline_services.publish_version(version, manager, change_summary="first")
    member, paused, acknowledged = (factories.make_member(project) for _ in range(3))
    ProjectMembership.objects.filter(project=project, user=paused).update(
        is_paused=True, paused_reason="gold 40 %"
    )
    guideline_services.acknowledge(version, acknowledged)
    staff, outsider = factories.make_user(is_staff=True), factories.make_user()

    assert same_answer(member, project.pk).current_guideline_acknowledged is False
    assert same_answer(acknowledged, project.pk).current_guideline_acknowledged is True
    gated = same_answer(paused, project.pk)
    assert gated.gate_paused is True and gated.gate_paused_reason == "gold 40 %"
    assert same_answer(staff, project.pk).gate_paused is False  # staff see every project, unpaused
    assert same_answer(staff, other.pk).pk == other.pk
    assert same_answer(outsider, project.pk) is None  # not a member: not found, as the API says
    assert same_answer(member, other.pk) is None
    assert same_answer(member, 10**12) is None
    assert services.serving_project(member, 2**70) is None  # beyond any key: nobody's, not a 500

    assert same_answer(member, project.pk).queue_exhausted_at is None
    mark_exhausted(project)
    assert same_answer(member, project.pk).queue_exhausted_at is not None  # a datetime on SQLite too
    assert services.is_exhausted(services.serving_project(member, project.pk).queue_exhausted_at)


def test_next_compiles_no_sql_for_its_gate_after_the_first_call(monkeypatch):
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    labeller = factories.make_member(project)
    for item in factories.make_items(project, 2):
        Annotation.objects.create(item=item, annotator=labeller, labels=["cat"])
    client = APIClient()
    client.force_authenticate(factories.make_member(project))
    url = f"/api/projects/{project.pk}/queue/next/"
    assert client.post(url).status_code == 204  # finds the project exhausted
    built, compiled = [], []
    as_sql, with_serve_gate = SQLCompiler.as_sql, leasing.with_serve_gate

    def counting(self, *args, **kwargs):
        compiled.append(self.query.model)
        return as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    monkeypatch.setattr(leasing, "with_serve_gate", lambda *a: built.append(a) or with_serve_gate(*a))
    assert client.post(url).status_code == 204
    assert built == []  # the gate's queryset is not even built again
    if connection.vendor == "postgresql":
        # The exhausted answer is the gate (compiled once) and one raw statement: nothing compiled.
        assert compiled == []


def test_a_builder_value_that_never_reaches_the_sql_is_refused():
    query = CompiledQuery(
        lambda shape, project_id, unused: Project.objects.filter(pk=project_id), project_id=int, unused=int
    )
    with pytest.raises(ValueError, match="unused"):
        query.first(None, project_id=1)


def test_each_shape_is_compiled_once_and_run_with_its_own_values():
    a, b = factories.make_project(), factories.make_project()
    built = []

    def build(shape, project_id):
        built.append(shape)
        return Project.objects.filter(pk=project_id, name__startswith=shape)

    query = CompiledQuery(build, project_id=int)
    assert query.first("project", project_id=a.pk).pk == a.pk
    assert query.first("project", project_id=b.pk).pk == b.pk
    assert query.first("nothing", project_id=a.pk) is None
    assert built == ["project", "nothing"]
    assert query.first("project", using=DEFAULT_DB_ALIAS, project_id=a.pk).pk == a.pk
