"""Benchmark: import N JSONL text items (default 1,000,000) through ``import_file`` into PostgreSQL.

Runs in a scratch database next to the one ``DATABASE_URL`` names (created, migrated and dropped
here), so it never touches real data. Prints one JSON object: items/second and peak memory.
Memory should be flat in the file size: run with ``--items 200000`` and compare ``peak_rss_mb``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/labelhub .venv/bin/python bench/import.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from scratch import postgres_url_or_exit, process_cpu_seconds, scratch_database

ROOT = Path(__file__).resolve().parent.parent
WORDS_TEXT = (
    "the a an this that some every customer order delivery parcel arrived late early broken damaged "
    "perfect great terrible support agent answered quickly slowly refund replacement price quality "
    "battery screen phone laptop charger cable box warranty store online app update crashed works "
    "fine never again would recommend friends family colour size fits small large comfortable shoes "
    "jacket coffee taste fresh stale service restaurant table waiter booked room hotel clean noisy "
    "view staff friendly rude flight delayed cancelled seat luggage lost found gate train station "
    "ticket cheap expensive value money time week month day yesterday today after before because "
    "but and or not very really quite too much more less best worst new old"
)
WORDS = WORDS_TEXT.split()


def rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_items(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    sources = ("email", "chat", "review", "survey")
    with open(path, "w", encoding="utf-8") as out:
        for n in range(count):
            text = " ".join(rng.choices(WORDS, k=rng.randint(6, 24))).capitalize() + "."
            out.write(json.dumps({"id": f"doc-{n}", "text": text, "source": sources[n % 4]}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    args = parser.parse_args()

    with scratch_database(postgres_url_or_exit("import.py"), "import") as (bench_url, _):
        result = run(bench_url, args.items)
    print(json.dumps(result))


def run(bench_url: str, count: int) -> dict:
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from labelhub.projects.importing import import_file
    from labelhub.projects.models import Project

    call_command("migrate", verbosity=0)
    project = Project.objects.create(name="bench import", modality="text")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.jsonl"
        write_items(path, count)
        file_mb = path.stat().st_size / 2**20
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend_pid = cursor.fetchone()[0]
        rss_before = rss_mb()
        backend_before = process_cpu_seconds(backend_pid)
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        with open(path, "rb") as handle:
            batch = import_file(project, handle, "jsonl", source="bench", filename=path.name)
        seconds = time.perf_counter() - started
        python_cpu = cpu_seconds() - cpu_before
        backend_after = process_cpu_seconds(backend_pid)
        backend_cpu = None if backend_before is None else backend_after - backend_before
    connection.close()
    return {
        "benchmark": "import_jsonl_postgresql",
        "items": count,
        "imported": batch.imported_count,
        "duplicates": batch.duplicate_count,
        "file_mb": round(file_mb, 1),
        "seconds": round(seconds, 2),
        "items_per_s": round(count / seconds),
        # CPU spent by this process and by its PostgreSQL backend: unlike wall time, these do not
        # depend on what else the shared machine is running.
        "python_cpu_s": round(python_cpu, 2),
        "postgres_backend_cpu_s": None if backend_cpu is None else round(backend_cpu, 2),
        "items_per_cpu_s": None if backend_cpu is None else round(count / (python_cpu + backend_cpu)),
        "rss_before_import_mb": round(rss_before, 1),
        "peak_rss_mb": round(rss_mb(), 1),
        "chunk_size": int(os.environ.get("IMPORT_BATCH_SIZE", "5000")),
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    main()
