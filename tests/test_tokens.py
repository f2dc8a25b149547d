"""API token authentication (labelhub.tokens): DRF's behaviour, its read compiled once."""

from __future__ import annotations

import pytest
from django.db.models.sql.compiler import SQLCompiler
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories

pytestmark = pytest.mark.django_db


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_valid_token_authenticates_its_user():
    project = factories.make_project()
    member = factories.make_member(project)
    token = Token.objects.create(user=member)
    answer = client_with(token.key).get("/api/projects/")
    assert answer.status_code == 200
    assert [p["id"] for p in answer.json()["results"]] == [project.pk]


def test_unknown_and_inactive_tokens_get_drfs_401():
    user = factories.make_user()
    token = Token.objects.create(user=user)
    unknown = client_with("0" * 40).get("/api/projects/")
    assert unknown.status_code == 401 and "Invalid token" in unknown.content.decode()
    user.is_active = False
    user.save()
    inactive = client_with(token.key).get("/api/projects/")
    assert inactive.status_code == 401 and "inactive" in inactive.content.decode()


def test_the_token_read_is_compiled_once(monkeypatch):
    tokens = [Token.objects.create(user=factories.make_user()) for _ in range(2)]
    assert client_with(tokens[0].key).get("/api/projects/").status_code == 200  # compiles it
    compiled = []
    as_sql = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        compiled.append(self.query.model)
        return as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    assert client_with(tokens[1].key).get("/api/projects/").status_code == 200
    assert Token not in compiled
