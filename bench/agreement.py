"""Benchmark: agreement and consensus for 1,000,000 annotations read from PostgreSQL.

Builds a scratch project (200,000 items × 5 annotators, 10 classes, two guideline versions) with
COPY, then times each stage of the QA pipeline on it and prints one JSON object. The scratch
project, its users and everything under them are deleted afterwards.

    DATABASE_URL=postgres://… .venv/bin/python bench/agreement.py [--items N] [--annotators K]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from annotators.qa.adjudication import open_adjudications  # noqa: E402
from annotators.qa.agreement import load_ratings, project_agreement  # noqa: E402
from annotators.qa.consensus import resolve, write_consensus  # noqa: E402
from labelhub.guidelines.models import GuidelineVersion  # noqa: E402
from labelhub.projects.models import Annotation, Item, LabelClass, Project  # noqa: E402


def copy_frame(table: str, frame: pd.DataFrame) -> None:
    """COPY a DataFrame into ``table`` (columns named like the frame) as CSV."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="")
    columns = ", ".join(frame.columns)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT CSV)") as copy,
    ):
        copy.write(buffer.getvalue())


def build(n_items: int, n_annotators: int, n_classes: int, seed: int) -> tuple[Project, list, np.ndarray]:
    """The scratch project: items, annotators of varied accuracy (one near random), annotations."""
    rng = np.random.default_rng(seed)
    tag = uuid.uuid4().hex[:8]
    classes = [f"class{c}" for c in range(n_classes)]
    project = Project.objects.create(name=f"bench-agreement-{tag}", consensus_method="dawid_skene")
    LabelClass.objects.bulk_create(
        LabelClass(project=project, name=c, order=i) for i, c in enumerate(classes)
    )
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"bench-{tag}-{i}") for i in range(n_annotators)
    )
    try:
        truth = _fill(project, users, n_items, n_annotators, n_classes, rng, tag, classes)
    except BaseException:
        clean_up(project, users)  # a half-built scratch project must not stay behind
        raise
    return project, users, truth


def _fill(project, users, n_items, n_annotators, n_classes, rng, tag, classes) -> np.ndarray:
    versions = [
        GuidelineVersion.objects.create(project=project, number=n, status="published") for n in (1, 2)
    ]
    now = pd.Timestamp.now(tz="UTC").isoformat()
    copy_frame(
        Item._meta.db_table,
        pd.DataFrame(
            {
                "project_id": project.pk,
                "external_id": [f"b{i}" for i in range(n_items)],
                "payload": [f'{{"text": "bench item {i}"}}' for i in range(n_items)],
                "content_hash": [f"{tag}{i:056d}" for i in range(n_items)],
                "created_at": now,
            }
        ),
    )
    item_ids = np.array(
        Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True), dtype=np.int64
    )
    truth = rng.integers(0, n_classes, n_items)
    accuracy = np.linspace(0.9, 0.6, n_annotators)
    accuracy[-1] = 0.15  # one careless annotator: Dawid–Skene should learn to ignore them
    item_col = np.repeat(np.arange(n_items), n_annotators)
    who = np.tile(np.arange(n_annotators), n_items)
    correct = rng.random(len(item_col)) < accuracy[who]
    answer = np.where(correct, truth[item_col], rng.integers(0, n_classes, len(item_col)))
    label_json = np.array([json.dumps([c]) for c in classes])
    version = np.where(item_col < n_items // 2, versions[0].pk, versions[1].pk)
    copy_frame(
        Annotation._meta.db_table,
        pd.DataFrame(
            {
                "item_id": item_ids[item_col],
                "annotator_id": np.array([u.pk for u in users])[who],
                "labels": label_json[answer],
                "time_spent": np.round(rng.uniform(1, 20, len(item_col)), 2),
                "source": "human",
                "guideline_version_id": version,
                "was_gold_check": False,
                "created_at": now,
            }
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Annotation._meta.db_table}")
        cursor.execute(f"ANALYZE {Item._meta.db_table}")
    return truth


def clean_up(project: Project, users: list) -> None:
    """Delete the scratch data with one DELETE per table.

    ``_raw_delete`` skips the ORM's cascade collector, which would load every one of the million
    rows into Python first; the order (dependents before items) keeps foreign keys satisfied.
    """
    from annotators.qa.models import AdjudicationTask, ConsensusLabel

    with transaction.atomic():
        for queryset in (
            ConsensusLabel.objects.filter(item__project=project),
            AdjudicationTask.objects.filter(project=project),
            Annotation.objects.filter(item__project=project),
            Item.objects.filter(project=project),
        ):
            queryset._raw_delete(connection.alias)
        project.delete()
        get_user_model().objects.filter(pk__in=[u.pk for u in users]).delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--annotators", type=int, default=5)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--with-adjudication", action="store_true", help="Also time opening adjudication tasks."
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/agreement.py needs PostgreSQL: set DATABASE_URL=postgres://…")

    figures: dict = {"items": args.items, "annotators": args.annotators, "classes": args.classes}
    t = time.perf_counter()
    # A server process imports these once; timing them inside the first stage would blur it.
    import crowdkit.aggregation  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import statsmodels.stats.inter_rater  # noqa: F401

    figures["imports_s"] = round(time.perf_counter() - t, 3)
    start = time.perf_counter()
    project, users, truth = build(args.items, args.annotators, args.classes, args.seed)
    figures["insert_copy_s"] = round(time.perf_counter() - start, 3)
    try:
        timings: dict[str, float] = {}
        cpu: dict[str, float] = {}
        c, t = time.process_time(), time.perf_counter()
        ratings = load_ratings(project)
        timings["load_s"] = time.perf_counter() - t
        cpu["load_cpu_s"] = time.process_time() - c
        figures["annotations"] = len(ratings)

        c, t = time.process_time(), time.perf_counter()
        report = project_agreement(project, ratings)
        timings["agreement_s"] = time.perf_counter() - t
        cpu["agreement_cpu_s"] = time.process_time() - c
        figures["krippendorff_alpha"] = report["overall"]["krippendorff_alpha"]
        figures["fleiss_kappa"] = report["overall"]["fleiss_kappa"]
        figures["percent_agreement"] = report["overall"]["percent_agreement"]
        figures["pairs"] = len(report["by_pair"])

        c, t = time.process_time(), time.perf_counter()
        majority = resolve(ratings, "majority")
        timings["majority_vote_s"] = time.perf_counter() - t
        cpu["majority_vote_cpu_s"] = time.process_time() - c

        c, t = time.process_time(), time.perf_counter()
        ds = resolve(ratings, "dawid_skene")
        timings["dawid_skene_s"] = time.perf_counter() - t
        cpu["dawid_skene_cpu_s"] = time.process_time() - c

        c, t = time.process_time(), time.perf_counter()
        written = write_consensus(project, ds)
        timings["consensus_write_s"] = time.perf_counter() - t
        cpu["consensus_write_cpu_s"] = time.process_time() - c
        figures["consensus_written"] = written["written"]

        truth_labels = np.array([f"class{c}" for c in truth])
        order = np.argsort(ratings.item_ids)  # item codes follow item id order; truth follows insertion order
        for name, resolution in (("majority", majority), ("dawid_skene", ds)):
            labels = np.array([x[0] if x else "" for x in resolution.labels])[order]
            figures[f"{name}_accuracy"] = round(float((labels == truth_labels).mean()), 4)

        if args.with_adjudication:
            t = time.perf_counter()
            figures["adjudications_opened"] = open_adjudications(project, ds)
            timings["adjudication_open_s"] = time.perf_counter() - t

        figures.update({k: round(v, 3) for k, v in timings.items()})
        # This process's CPU seconds per stage: wall time on a shared machine includes waiting.
        figures.update({k: round(v, 3) for k, v in cpu.items()})
        figures["total_s"] = round(
            timings["load_s"]
            + timings["agreement_s"]
            + timings["majority_vote_s"]
            + timings["dawid_skene_s"]
            + timings["consensus_write_s"],
            3,
        )
    finally:
        c, t = time.process_time(), time.perf_counter()
        clean_up(project, users)
        figures["cleanup_s"] = round(time.perf_counter() - t, 3)
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
