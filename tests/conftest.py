"""Shared fixtures: small builders of projects, members and items (see tests/factories.py)."""

import pytest

from tests import factories


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs ~0.3 s per test user; tests check permissions, not hashing strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_label_noise_check_after_rounds(settings):
    """A finished round queues a label-noise check (a job of its own); tests that count a round's
    jobs would count it too. tests/active/test_noise_jobs.py turns it on where it is the subject."""
    settings.LABELHUB_NOISE_AFTER_ROUND = False


@pytest.fixture(autouse=True)
def _qa_figures_in_the_request(settings):
    """The QA dashboard computes its figures in the request, so a test reads the figures of the
    labels it just made (tests/annotators/qa/test_selectors.py covers the background refresh)."""
    settings.LABELHUB_QA_STALE_SECONDS = 0


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: figures cached by one test never answer another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _no_remembered_nothing_left():
    """A finished project's remembered "nothing left" (per process) never outlives its test: ids
    come back after a rollback on SQLite, and another test's annotator would be told it."""
    from labelhub.queues.services import filling

    filling._nothing_left.clear()
    yield
    filling._nothing_left.clear()


@pytest.fixture
def project(db):
    return factories.make_project()


@pytest.fixture
def manager(db, project):
    return factories.make_member(project, "manager")


@pytest.fixture
def annotator(db, project):
    return factories.make_member(project, "annotator")


@pytest.fixture
def outsider(db):
    return factories.make_user("outsider")
