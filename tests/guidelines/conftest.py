"""Builders for guideline tests: published versions and flagged items in a few calls."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from labelhub.guidelines import services


def publish(
    project, user=None, *, body: str = "Label what you see.", summary: str = "First version.", **fields
):
    draft = services.create_draft(project, user, body=body, **fields)
    return services.publish_version(draft, user, change_summary=summary)


@pytest.fixture
def published(project, manager):
    return publish(project, manager)


@pytest.fixture
def api(client):
    """A logged-in test client factory: api(user) returns the client logged in as ``user``."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture(autouse=True)
def empty_cache():
    """Rendered published versions are cached; each test starts from an empty cache."""
    cache.clear()
    yield
    cache.clear()
