"""A request whose database connection died under it runs once more instead of answering 500."""

from __future__ import annotations

import io
import json

import pytest
from django.db import InterfaceError, OperationalError
from rest_framework.authtoken.models import Token

from labelhub import resilience
from labelhub.resilience import LOST_CONNECTION, RetryOnLostConnection, is_lost_connection
from tests import factories


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (OperationalError("terminating connection due to administrator command"), True),
        (OperationalError("server closed the connection unexpectedly"), True),
        (InterfaceError("connection already closed"), True),
        (OperationalError("deadlock detected"), False),
        (OperationalError("canceling statement due to statement timeout"), False),
        (ValueError("terminating connection"), False),
    ],
)
def test_only_a_lost_connection_counts(error, lost):
    assert is_lost_connection(error) is lost


def _environ(body: bytes = b"") -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/x/",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


class _FlakyApp:
    """Fails its first call the way Django does when the connection died; records what it read."""

    def __init__(self, *, mark: bool):
        self.bodies: list[bytes] = []
        self.mark = mark

    def __call__(self, environ, start_response):
        self.bodies.append(environ["wsgi.input"].read())
        if len(self.bodies) == 1:
            if self.mark:
                environ[LOST_CONNECTION] = True
            start_response("500 Internal Server Error", [])
            return [b"boom"]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]


def test_a_lost_connection_is_answered_by_one_rerun_with_the_same_body(monkeypatch):
    monkeypatch.setattr(resilience.connections, "close_all", lambda: None)
    app, statuses = _FlakyApp(mark=True), []
    result = RetryOnLostConnection(app)(
        _environ(b'{"labels": ["cat"]}'), lambda s, h, e=None: statuses.append(s)
    )
    assert statuses == ["200 OK"] and list(result) == [b"{}"]
    assert app.bodies == [b'{"labels": ["cat"]}'] * 2


def test_any_other_500_is_answered_as_it_is():
    app, statuses = _FlakyApp(mark=False), []
    result = RetryOnLostConnection(app)(_environ(), lambda s, h, e=None: statuses.append(s))
    assert statuses == ["500 Internal Server Error"] and list(result) == [b"boom"]
    assert len(app.bodies) == 1


@pytest.mark.django_db(transaction=True)
def test_the_wsgi_application_reruns_an_api_request_whose_connection_died(monkeypatch):
    from labelhub import wsgi
    from labelhub.projects.api import views

    user = factories.make_user(is_staff=True)
    token = Token.objects.create(user=user)
    calls = []
    listing = views.ProjectViewSet.list

    def dies_once(self, request, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("terminating connection due to administrator command")
        return listing(self, request, *args, **kwargs)

    monkeypatch.setattr(views.ProjectViewSet, "list", dies_once)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/projects/",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": f"Token {token.key}",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }
    statuses = []
    body = b"".join(wsgi.application(environ, lambda s, h, e=None: statuses.append(s)))
    assert statuses == ["200 OK"] and len(calls) == 2
    assert json.loads(body)["count"] == 0
