"""`manage.py demo_data`: real data sets, ground truth aside, members, idempotent."""

import io

import pytest
from django.core.management import call_command

from labelhub.projects import datasets
from labelhub.projects.management.commands.demo_data import DIGITS_PROJECT, WORDNET_PROJECT
from labelhub.projects.models import Annotation, GroundTruth, Item, Project
from tests import factories

pytestmark = pytest.mark.django_db


def run_demo_data(**options) -> str:
    out = io.StringIO()
    call_command("demo_data", stdout=out, **options)
    return out.getvalue()


def test_demo_data_creates_digits_with_ground_truth_and_members():
    manager = factories.make_user("admin", is_staff=True)
    annotator = factories.make_user("annotator")
    output = run_demo_data(members=[manager, annotator], digits_limit=30, wordnet_limit=40)
    digits = Project.objects.get(name=DIGITS_PROJECT)
    assert (digits.modality, digits.classes.count(), digits.items.count()) == ("image", 10, 30)
    assert sorted(digits.classes.values_list("key", flat=True)) == list("0123456789")
    assert GroundTruth.objects.filter(item__project=digits).count() == 30
    assert not Annotation.objects.exists()  # ground truth is never a label
    assert digits.memberships.get(user=manager).role == "manager"
    assert digits.memberships.get(user=annotator).role == "annotator"
    assert f"{DIGITS_PROJECT}: 30 items" in output


@pytest.mark.skipif(not datasets.wordnet_available(), reason="Debian's wordnet-base is not installed")
def test_demo_data_loads_wordnet_glosses_with_45_classes():
    run_demo_data(digits_limit=5, wordnet_limit=200)
    wordnet = Project.objects.get(name=WORDNET_PROJECT)
    assert wordnet.classes.count() == 45
    assert 190 <= wordnet.items.count() <= 200  # a few glosses repeat and are skipped
    item = wordnet.items.first()
    assert item.ground_truth.labels[0] in datasets.LEXNAMES
    assert item.ground_truth.labels[0] not in str(item.payload)


def test_demo_data_is_idempotent():
    run_demo_data(digits_limit=10, wordnet_limit=20)
    items_before = Item.objects.count()
    output = run_demo_data(digits_limit=10, wordnet_limit=20)
    assert Item.objects.count() == items_before
    assert "already loaded" in output


def test_demo_data_without_wordnet_says_how_to_install_and_still_makes_digits(monkeypatch):
    monkeypatch.setattr(datasets, "wordnet_available", lambda directory=None: False)
    output = run_demo_data(digits_limit=5)
    assert "wordnet-base" in output
    assert Project.objects.filter(name=DIGITS_PROJECT).exists()
    assert not Project.objects.filter(name=WORDNET_PROJECT).exists()
