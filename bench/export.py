"""Benchmark: cut and export a snapshot of 1,000,000 labelled items on PostgreSQL.

Creates a scratch database (``<DATABASE_URL name>_bench_export``), fills one project with items,
annotations (one per item) and consensus labels (every tenth item) by COPY, times the cut (the
service, in this process), then starts a real server subprocess (uvicorn, one process, ASGI) and
downloads JSONL and Parquet over HTTP with urllib, sampling the server's RSS from /proc. Drops the
scratch database at the end and prints one JSON object.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/labelhub .venv/bin/python bench/export.py [--items N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from scratch import free_port, postgres_url_or_exit, process_cpu_seconds, scratch_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fill(project_id: int, user_id: int, count: int) -> None:
    """Items by COPY, then annotations and consensus labels by INSERT … SELECT."""
    from django.db import connection

    classes = ["cat", "dog", "wolf", "fox"]
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            "COPY projects_item (project_id, external_id, payload, content_hash, created_at) FROM STDIN"
        ) as copy:
            for i in range(count):
                payload = json.dumps({"text": f"benchmark sentence number {i} about a {classes[i % 4]}"})
                copy.write_row(
                    (
                        project_id,
                        f"item-{i:07d}",
                        payload,
                        hashlib.sha256(payload.encode()).hexdigest(),
                        "2026-01-01",
                    )
                )
        cursor.execute(
            """INSERT INTO projects_annotation (item_id, annotator_id, labels, time_spent, source,
                   was_gold_check, created_at)
               SELECT id, %s, jsonb_build_array((ARRAY['cat','dog','wolf','fox'])[1 + id %% 4]), 2.0, 'human',
                   false, now() FROM projects_item WHERE project_id = %s""",
            [user_id, project_id],
        )
        cursor.execute(
            """INSERT INTO annotators_consensuslabel (item_id, labels, confidence, method, annotator_count, updated_at)
               SELECT id, jsonb_build_array((ARRAY['cat','dog','wolf','fox'])[1 + (id + 1) %% 4]), 0.8, 'majority', 3, now()
               FROM projects_item WHERE project_id = %s AND id %% 10 = 0""",
            [project_id],
        )
        cursor.execute("ANALYZE")


class RssSampler(threading.Thread):
    """Polls a process's resident memory every 20 ms and remembers the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self.running = True

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def run(self) -> None:
        while self.running:
            self.peak_kib = max(self.peak_kib, self.rss_kib())
            time.sleep(0.02)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.peak_kib


def download(url: str, token: str, pid: int, db_name: str) -> dict:
    sampler = RssSampler(pid)
    backends = database_backends(db_name)
    server_cpu = process_cpu_seconds(pid)
    backend_cpu = {b: process_cpu_seconds(b) for b in backends}
    before = sampler.rss_kib()
    sampler.start()
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})  # noqa: S310
    started = time.perf_counter()
    size = lines = 0
    with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310 - our own local server
        headers = response.headers
        while block := response.read(1 << 20):
            size += len(block)
            lines += block.count(b"\n")
    seconds = time.perf_counter() - started
    peak = sampler.stop()
    new_backends = set(database_backends(db_name)) - set(backend_cpu)
    db_cpu = sum(process_cpu_seconds(b) - backend_cpu[b] for b in backend_cpu if Path(f"/proc/{b}").exists())
    db_cpu += sum(process_cpu_seconds(b) for b in new_backends if Path(f"/proc/{b}").exists())
    return {
        "seconds": round(seconds, 3),
        "bytes": size,
        "newlines": lines,
        "server_cpu_seconds": round(process_cpu_seconds(pid) - server_cpu, 2),
        "postgres_cpu_seconds": round(db_cpu, 2),
        "server_rss_before_mib": round(before / 1024, 1),
        "server_rss_peak_mib": round(peak / 1024, 1),
        "content_length": headers.get("Content-Length"),
        "checksum": headers.get("X-Checksum-SHA256"),
    }


def database_backends(name: str) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])
        return [row[0] for row in cursor.fetchall()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    with scratch_database(postgres_url_or_exit("export.py"), "export", keep=args.keep) as (url, name):
        figures = measure(args, url, name)
    print(json.dumps(figures, indent=2))


def measure(args: argparse.Namespace, url: str, name: str) -> dict:
    data_dir = tempfile.mkdtemp(prefix="labelhub-bench-export-")
    os.environ.update(
        DATABASE_URL=url, LABELHUB_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="labelhub.settings"
    )
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from labelhub.snapshots.services import cut_snapshot
    from tests.factories import make_member, make_project, make_user

    server = None
    figures: dict = {"items": args.items, "database": "postgresql", "load_before": os.getloadavg()}
    try:
        call_command("migrate", verbosity=0)
        project = make_project("bench export", classes=("cat", "dog", "wolf", "fox"))
        user = make_user("bench-manager")
        make_member(project, "manager", user=user)
        token = Token.objects.create(user=user).key
        started = time.perf_counter()
        fill(project.pk, user.pk, args.items)
        figures["fill_seconds"] = round(time.perf_counter() - started, 2)

        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        started, cpu, db_cpu = time.perf_counter(), time.process_time(), process_cpu_seconds(backend)
        snapshot, created = cut_snapshot(project, name="bench")
        figures["cut_seconds"] = round(time.perf_counter() - started, 2)
        # On a shared machine wall time depends on the load; CPU time of both sides does not.
        figures["cut_cpu_seconds"] = {
            "python": round(time.process_time() - cpu, 2),
            "postgres_backend": round(process_cpu_seconds(backend) - db_cpu, 2),
        }
        started = time.perf_counter()
        _, again = cut_snapshot(project, name="bench again")
        figures["recut_unchanged_seconds"] = round(time.perf_counter() - started, 2)
        figures["recut_returned_existing"] = not again
        figures["snapshot_items"] = snapshot.item_count

        from django.db import connections

        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "labelhub.asgi:application",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env={**os.environ, "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1"},
        )
        base_url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base_url}/api/schema/", timeout=2)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        figures["server_rss_idle_mib"] = round(RssSampler(server.pid).rss_kib() / 1024, 1)
        export = f"{base_url}/api/snapshots/{snapshot.content_hash}/export"
        results = {}
        for label, fmt in [
            ("jsonl_streamed", "jsonl"),
            ("jsonl_cached", "jsonl"),
            ("parquet_streamed", "parquet"),
            ("parquet_cached", "parquet"),
            # One extra annotations query per 20,000 rows and a JSON object per task.
            ("labelstudio_streamed", "labelstudio"),
        ]:
            result = download(f"{export}/{fmt}/", token, server.pid, name)
            result["items_per_second"] = round(args.items / result["seconds"])
            results[label] = result
        figures["downloads"] = results
        figures["server"] = "uvicorn labelhub.asgi:application, 1 process, real HTTP over loopback (urllib)"
        figures["load_after"] = os.getloadavg()
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        from django.db import connections

        connections.close_all()
    return figures


if __name__ == "__main__":
    main()
