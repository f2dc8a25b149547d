"""Project services: loading a labelled data set goes through the importer and the label rule."""

import pytest

from labelhub.projects.datasets import LabelledRecord
from labelhub.projects.importing import ImportRejected
from labelhub.projects.label_config import ClassSpec
from labelhub.projects.models import GroundTruth, Project
from labelhub.projects.services import load_labelled_dataset

pytestmark = pytest.mark.django_db


def records(*labels):
    return (
        LabelledRecord(external_id=f"r{n}", payload={"text": f"sentence {n}"}, label=label)
        for n, label in enumerate(labels)
    )


def test_labelled_dataset_imports_records_and_keeps_labels_as_ground_truth():
    project, batch = load_labelled_dataset(
        name="Pets",
        modality="text",
        classes=[ClassSpec("cat"), ClassSpec("dog")],
        records=records("cat", "dog"),
    )
    assert (batch.format, batch.source, batch.imported_count) == ("records", "demo", 2)
    truth = dict(GroundTruth.objects.filter(item__project=project).values_list("item__external_id", "labels"))
    assert truth == {"r0": ["cat"], "r1": ["dog"]}


def test_labelled_dataset_with_a_label_outside_the_schema_is_rejected_at_its_record():
    with pytest.raises(ImportRejected) as rejected:
        load_labelled_dataset(
            name="Pets", modality="text", classes=[ClassSpec("cat")], records=records("cat", "zebra")
        )
    error = rejected.value.errors[0]
    assert (error["line"], error["field"], error["code"]) == (2, "label", "unknown_label")
    assert not Project.objects.get(name="Pets").items.exists()
    assert not GroundTruth.objects.exists()
