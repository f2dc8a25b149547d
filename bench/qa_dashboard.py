"""Benchmark: the QA dashboard page's server time at 100,000 annotations.

Creates a scratch PostgreSQL database next to ``DATABASE_URL`` (``<name>_bench_qa_dashboard``),
seeds one project with COPY (items with a model suggestion, 20 annotators, half the items labelled
by three of them, gold answers, consensus labels, annotator counters, a month of submissions), then
renders ``/qa/projects/<id>/`` through Django's test client as a logged-in manager and prints one
JSON object: the first render (nothing cached: every figure computed from the labels), the median
and worst of the following renders (the label figures served from the cache, everything else
read afresh), a render after one new label (the fingerprint moved: the page shows the last
figures while a background thread recomputes them), how long until that thread has the new label
in the figures, and the same recomputation inside the request (``LABELHUB_QA_STALE_SECONDS=0``).
Wall time depends on the machine's load, so the load and the CPU time of both sides are printed too.
Drops the scratch database.

    DATABASE_URL=postgres://… .venv/bin/python bench/qa_dashboard.py [--annotations N] [--repeat R]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from scratch import postgres_url_or_exit, process_cpu_seconds, scratch_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")

# Consensus as the most frequent label set of each item (the page only reads it).
_CONSENSUS_SQL = (
    "INSERT INTO {consensus} (item_id, labels, confidence, method, annotator_count, updated_at) "
    "SELECT DISTINCT ON (item_id) item_id, labels, 1.0, 'majority', total, now() FROM ("
    " SELECT a.item_id, a.labels, count(*) AS n, sum(count(*)) OVER (PARTITION BY a.item_id) AS total"
    " FROM {annotation} a JOIN {item} i ON i.id = a.item_id WHERE i.project_id = %s"
    " GROUP BY a.item_id, a.labels) votes ORDER BY item_id, n DESC"
)

CLASSES = ["billing", "bug", "feature", "praise", "question", "refund", "security", "spam"]


def _copy(cursor, table: str, columns: str, lines: list[str]) -> None:
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for i, line in enumerate(lines):
            buffer.write(line)
            if i % 50000 == 49999:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def seed(n_annotations: int, n_annotators: int, overlap: int, overlap_share: float, seed: int) -> dict:
    """Migrate, then the scratch project; returns its id, the manager and the annotation count."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from annotators.qa.gold import rebuild_stats
    from annotators.qa.models import ConsensusLabel, GoldItem
    from labelhub.guidelines.models import GuidelineVersion
    from labelhub.projects.models import Annotation, Item, LabelClass, Project, ProjectMembership

    call_command("migrate", interactive=False, verbosity=0)
    rng = np.random.default_rng(seed)
    project = Project.objects.create(name="bench qa dashboard")
    LabelClass.objects.bulk_create(
        LabelClass(project=project, name=c, key=str(i + 1), order=i) for i, c in enumerate(CLASSES)
    )
    User = get_user_model()
    manager = User.objects.create_user("bench-manager", password="bench-manager-pw")
    ProjectMembership.objects.create(project=project, user=manager, role=ProjectMembership.Role.MANAGER)
    annotators = User.objects.bulk_create(User(username=f"annotator-{i:02d}") for i in range(n_annotators))
    ProjectMembership.objects.bulk_create(ProjectMembership(project=project, user=u) for u in annotators)
    versions = [
        GuidelineVersion.objects.create(project=project, number=n, status="published") for n in (1, 2)
    ]
    # n items such that n·(1 − s) + n·s·k = the annotations asked for.
    n_items = int(n_annotations / (1 + overlap_share * (overlap - 1)))
    truth = rng.integers(0, len(CLASSES), n_items)
    model_right = rng.random(n_items) < 0.8
    model = np.where(model_right, truth, rng.integers(0, len(CLASSES), n_items))
    tag = uuid.uuid4().hex[:8]
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0]
        _copy(
            cursor,
            Item._meta.db_table,
            "project_id, external_id, payload, content_hash, suggestion, created_at",
            [
                f"{project.pk}\tt{i}\t"
                + json.dumps({"text": f"support ticket {i}"})
                + f"\t{tag}{i:056d}\t"
                + json.dumps({"labels": [CLASSES[model[i]]], "confidence": 0.7, "model_version": 1})
                + f"\t{now.isoformat()}\n"
                for i in range(n_items)
            ],
        )
    item_ids = np.array(Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    raters = np.where(rng.random(n_items) < overlap_share, overlap, 1)
    item_col = np.repeat(np.arange(n_items), raters)
    # Distinct annotators per item: an offset and consecutive annotators from it.
    start = rng.integers(0, n_annotators, n_items)
    rank = np.arange(len(item_col)) - np.repeat(np.cumsum(raters) - raters, raters)
    who = (start[item_col] + rank) % n_annotators
    accuracy = np.linspace(0.95, 0.7, n_annotators)
    correct = rng.random(len(item_col)) < accuracy[who]
    answer = np.where(correct, truth[item_col], rng.integers(0, len(CLASSES), len(item_col)))
    # A month of submissions, oldest first, roughly in item order as a queue serves them.
    seconds_ago = np.sort(rng.uniform(0, 30 * 86400, len(item_col)))[::-1]
    stamps = [(now - np.timedelta64(int(s), "s").item()).isoformat() for s in seconds_ago]
    user_ids = np.array([u.pk for u in annotators])
    version = np.where(seconds_ago > 15 * 86400, versions[0].pk, versions[1].pk)
    spent = np.round(rng.lognormal(1.8, 0.5, len(item_col)), 2)
    with connection.cursor() as cursor:
        _copy(
            cursor,
            Annotation._meta.db_table,
            "item_id, annotator_id, labels, time_spent, source, guideline_version_id, was_gold_check, "
            "created_at",
            [
                f'{item_ids[item_col[r]]}\t{user_ids[who[r]]}\t["{CLASSES[answer[r]]}"]\t{spent[r]}\t'
                f"human\t{version[r]}\tf\t{stamps[r]}\n"
                for r in range(len(item_col))
            ],
        )
    gold_rows = rng.choice(n_items, size=min(500, n_items), replace=False)
    GoldItem.objects.bulk_create(
        GoldItem(item_id=int(item_ids[i]), labels=[CLASSES[truth[i]]]) for i in gold_rows
    )
    with connection.cursor() as cursor:
        tables = {
            "consensus": ConsensusLabel._meta.db_table,
            "annotation": Annotation._meta.db_table,
            "item": Item._meta.db_table,
        }
        cursor.execute(_CONSENSUS_SQL.format(**tables), [project.pk])
        cursor.execute("ANALYZE")
    rebuild_stats(project)
    return {"project_id": project.pk, "items": n_items, "annotations": len(item_col)}


def measure(args: argparse.Namespace) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    figures: dict = {"load_before": [round(x, 2) for x in os.getloadavg()], "cpu_cores": os.cpu_count()}
    started = time.perf_counter()
    figures.update(seed(args.annotations, args.annotators, args.overlap, args.overlap_share, args.seed))
    figures["seed_s"] = round(time.perf_counter() - started, 2)
    from labelhub.projects.models import Annotation, Item

    client = Client()
    client.login(username="bench-manager", password="bench-manager-pw")
    url = f"/qa/projects/{figures['project_id']}/"
    client.get("/")
    # A server process imports these once, on its first QA request; they are not the page's time.
    import pandas  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import statsmodels.stats.inter_rater  # noqa: F401

    def render() -> tuple[float, float, float]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        db_cpu, cpu, t = process_cpu_seconds(backend), time.process_time(), time.perf_counter()
        response = client.get(url)
        wall = time.perf_counter() - t
        assert response.status_code == 200, response.status_code
        return wall * 1000, (time.process_time() - cpu) * 1000, (process_cpu_seconds(backend) - db_cpu) * 1000

    first = render()
    warm = [render() for _ in range(args.repeat)]
    # One new label moves the fingerprint: the next render recomputes everything.
    item = Item.objects.filter(project_id=figures["project_id"]).order_by("pk").first()
    annotator_id = Annotation.objects.filter(item=item).values_list("annotator_id", flat=True).first()
    Annotation.objects.create(item=item, annotator_id=annotator_id, labels=[CLASSES[0]], time_spent=3)
    # The page shows the last figures at once and a background thread recomputes them
    # (LABELHUB_QA_STALE_SECONDS); how long until the new label is in the figures is timed too.
    import threading

    refresh_started = time.perf_counter()
    after_new_label = render()
    for thread in threading.enumerate():
        if thread.name.startswith("qa-figures-"):
            thread.join(timeout=60)
    refreshed_after = time.perf_counter() - refresh_started
    # The same recomputation inside the request (LABELHUB_QA_STALE_SECONDS=0).
    settings.LABELHUB_QA_STALE_SECONDS = 0
    Annotation.objects.create(item=item, annotator_id=annotator_id, labels=[CLASSES[1]], time_spent=3)
    recomputed_in_request = render()

    def ms(x: float) -> float:
        return round(x, 1)

    figures.update(
        {
            "first_render_ms": ms(first[0]),
            "first_render_cpu_ms": {"python": ms(first[1]), "postgres_backend": ms(first[2])},
            "repeat_renders": args.repeat,
            "repeat_median_ms": ms(statistics.median(w[0] for w in warm)),
            "repeat_max_ms": ms(max(w[0] for w in warm)),
            "repeat_median_cpu_ms": {
                "python": ms(statistics.median(w[1] for w in warm)),
                "postgres_backend": ms(statistics.median(w[2] for w in warm)),
            },
            "after_new_label_ms": ms(after_new_label[0]),
            "after_new_label_figures_refreshed_ms": ms(refreshed_after * 1000),
            "after_new_label_recomputed_in_request_ms": ms(recomputed_in_request[0]),
            "target_ms": 300,
            "load_after": [round(x, 2) for x in os.getloadavg()],
        }
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--overlap", type=int, default=3, help="Annotators of an overlapping item.")
    parser.add_argument("--overlap-share", type=float, default=0.5, help="Share of items overlapped.")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args()
    with scratch_database(postgres_url_or_exit("qa_dashboard.py"), "qa_dashboard", keep=args.keep) as (
        url,
        _,
    ):
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        os.environ.pop("REDIS_URL", None)  # no page listens: the in-memory channel layer suffices
        figures = measure(args)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
