"""The one error shape: every DomainError subclass, and DRF's and Django's own errors, answer the
API in ``{code, detail, field, errors}`` through the one handler."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.test import APIClient

from labelhub.errors import DomainError, NotFound, api_exception_handler
from labelhub.production.errors import CaptureRejected
from labelhub.projects.importing import ImportRejected

PACKAGES = ("labelhub", "annotators", "active")
SHAPE = {"code", "detail", "field", "errors"}


def _import_everything() -> None:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            if ".migrations" in module.name or module.name.endswith((".asgi", ".wsgi")):
                continue
            importlib.import_module(module.name)


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def _error_classes() -> list[type]:
    _import_everything()
    return sorted({*_subclasses(DomainError), DomainError}, key=lambda c: f"{c.__module__}.{c.__qualname__}")


class _Version:
    """Stands in for a GuidelineVersion where an error carries one."""

    pk = 7
    number = 3
    change_summary = "Wolves are not dogs."


def _instance(cls: type) -> DomainError:
    """Each error built the way its raisers build it: with a message, or with what its __init__ asks."""
    parameters = [
        p
        for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    values = {
        "version": _Version(),
        "errors": [{"line": 3, "field": "text", "code": "required", "detail": "missing"}],
    }
    args = [values.get(p.name, "Something the caller did wrong.") for p in parameters]
    return cls(*args)


def test_every_domain_error_is_found():
    names = {cls.__name__ for cls in _error_classes()}
    # One from each app that raises errors: the enumeration below sees the whole tree.
    assert {"DomainError", "NotFound", "InvalidLabels", "GuidelineAckRequired"} <= names


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_domain_error_answers_in_the_one_shape(cls, db):
    error = _instance(cls)
    response = api_exception_handler(error, {})
    assert 400 <= response.status_code < 500
    body = response.data
    assert set(body) >= SHAPE
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["field"] is None or isinstance(body["field"], str)
    assert body["errors"] and all({"field", "code", "detail"} <= set(row) for row in body["errors"])
    assert body["field"] == body["errors"][0]["field"]
    # A rejected batch (import file, capture batch) sums its rows up; each row keeps its own code.
    if len(error.errors) == 1 and not isinstance(error, ImportRejected | CaptureRejected):
        assert (body["code"], body["detail"]) == (body["errors"][0]["code"], body["errors"][0]["detail"])


@pytest.mark.parametrize(
    ("exc", "status", "code", "field"),
    [
        (exceptions.ValidationError({"name": ["This field is required."]}), 400, "invalid", "name"),
        (
            exceptions.ValidationError({"classes": [{"name": ["Too long."]}]}),
            400,
            "invalid",
            "classes[0].name",
        ),
        (exceptions.ValidationError(["Bad."]), 400, "invalid", "non_field_errors"),
        (exceptions.ParseError(), 400, "parse_error", None),
        (exceptions.NotAuthenticated(), 401, "not_authenticated", None),
        (exceptions.PermissionDenied(), 403, "permission_denied", None),
        (exceptions.NotFound(), 404, "not_found", None),
        (exceptions.MethodNotAllowed("PUT"), 405, "method_not_allowed", None),
        (exceptions.Throttled(wait=3), 429, "throttled", None),
        (Http404(), 404, "not_found", None),
        (DjangoPermissionDenied(), 403, "permission_denied", None),
        (DjangoValidationError({"labels": ["unknown class"]}), 400, "invalid", "labels"),
    ],
)
def test_drf_and_django_errors_answer_in_the_one_shape(exc, status, code, field):
    response = api_exception_handler(exc, {})
    assert response.status_code == status
    assert set(response.data) >= SHAPE
    assert (response.data["code"], response.data["field"]) == (code, field)


def test_a_real_request_gets_the_shape_with_its_field(db, django_user_model):
    user = django_user_model.objects.create_user("lead", password="pw-for-tests-1", is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/projects/", {"modality": "text"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) >= SHAPE
    assert "name" in {row["field"] for row in body["errors"]}


def test_an_unknown_api_url_gets_the_shape_and_a_page_keeps_the_html(db, client):
    response = client.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == NotFound().body()
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")


def test_an_anonymous_request_gets_the_shape():
    response = APIClient().get("/api/projects/")
    assert response.status_code in (401, 403)
    assert set(response.json()) >= SHAPE


def test_the_openapi_schema_documents_the_error_shape(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == SHAPE
    operation = schema["paths"]["/api/projects/"]["post"]
    assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
