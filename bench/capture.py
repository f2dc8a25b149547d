"""Benchmark: the production inbox — capture over HTTP into PostgreSQL, scoring, drift per window.

Runs in a scratch database next to the one ``DATABASE_URL`` names (created, migrated, dropped).
Prints one JSON object:

- ``capture_text``: records/s of text records with probabilities, POSTed in batches of 10,000 by
  ``--clients`` keep-alive connections to gunicorn (``--workers`` processes), stored in PostgreSQL;
- ``capture_embedding``: the same with a 384-d embedding in every record (batches of 2,000);
- ``scoring``: records/s of the scoring job (captures carrying their embedding, against the
  snapshot's vectors), and of novelty alone against ``--labelled`` (1,000,000) reference vectors,
  through the inverted-file index (its build seconds included), beside the exact search on
  ``--exact-queries`` of the same queries: the speed-up, the rank correlation of their k-NN
  distances and how much larger the index's are (it can only miss neighbours), under the same
  load. The reference is isotropic noise, the index's worst case: nothing clusters;
- ``drift_seconds_per_window``: one window of 1,000 production vs 1,000 training vectors, all tests;
- peak memory of this process and of the server's workers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/labelhub .venv/bin/python bench/capture.py
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from scratch import free_port, postgres_url_or_exit, scratch_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")
CLASSES = ["cat", "dog", "wolf", "fox", "bear"]
WORDS = [
    "the",
    "a",
    "parcel",
    "arrived",
    "late",
    "early",
    "broken",
    "perfect",
    "support",
    "refund",
    "price",
    "battery",
    "screen",
    "phone",
    "fine",
]


def seed_deployment() -> tuple[int, int, str]:
    """Migrate; a text project with 2,000 labelled items, a snapshot, a model run and a deployment."""
    import django

    django.setup()
    import numpy as np
    from django.core.management import call_command
    from django.db import connections

    from active.embeddings import store_for
    from labelhub.production.services import create_deployment
    from labelhub.projects.importing import content_hash
    from labelhub.projects.models import Annotation, Item, LabelClass, Project
    from labelhub.snapshots.services import cut_snapshot, register_model_run

    call_command("migrate", interactive=False, verbosity=0)
    project = Project.objects.create(name="bench capture", gold_rate=0, overlap_fraction=0)
    LabelClass.objects.bulk_create(
        LabelClass(project=project, name=c, key=str(i + 1), order=i) for i, c in enumerate(CLASSES)
    )
    payloads = [{"text": f"labelled sentence {i}"} for i in range(2000)]
    items = Item.objects.bulk_create(
        Item(project=project, external_id=f"l{i}", payload=p, content_hash=content_hash(p))
        for i, p in enumerate(payloads)
    )
    Annotation.objects.bulk_create(
        Annotation(item=item, labels=[CLASSES[i % 5]]) for i, item in enumerate(items)
    )
    rng = np.random.default_rng(0)
    store_for(project).append(
        [item.pk for item in items], rng.standard_normal((len(items), 384)).astype(np.float32)
    )
    snapshot, _ = cut_snapshot(project, name="bench")
    run = register_model_run(snapshot, name="bench model", metrics={"accuracy": 0.9})
    deployment, token = create_deployment(project, run, name="bench")
    connections.close_all()
    return project.pk, deployment.pk, token


def bodies(n_batches: int, batch: int, *, embedding: bool, tag: str) -> list[bytes]:
    rng = random.Random(1)
    out = []
    for b in range(n_batches):
        records = []
        for i in range(batch):
            p = [rng.random() for _ in CLASSES]
            total = sum(p)
            record = {
                "key": f"{tag}-{b}-{i}",
                "input": {"text": " ".join(rng.choices(WORDS, k=rng.randint(6, 20)))},
                "prediction": CLASSES[max(range(5), key=p.__getitem__)],
                "probabilities": [round(v / total, 6) for v in p],
                "model_version": "v1",
                "source": "web",
                "timestamp": "2026-12-01T10:00:00+00:00",
            }
            if embedding:
                record["embedding"] = [round(rng.gauss(0, 0.05), 5) for _ in range(384)]
            records.append(record)
        out.append(json.dumps({"records": records}).encode())
    return out


def post_all(port: int, path: str, token: str, payloads: list[bytes], clients: int) -> tuple[float, int]:
    """POST every body over ``clients`` keep-alive connections; ``(seconds, records stored)``."""
    work = list(payloads)
    lock = threading.Lock()
    created = [0]
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                if not work:
                    break
                body = work.pop()
            conn.request(
                "POST",
                path,
                body,
                {"Content-Type": "application/json", "Authorization": f"Deployment {token}"},
            )
            response = conn.getresponse()
            answer = response.read()
            if response.status != 200:
                errors.append(answer[:300].decode(errors="replace"))
                continue
            with lock:
                created[0] += json.loads(answer)["created"]

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"capture failed: {errors[0]}")
    return time.perf_counter() - started, created[0]


def server_peak_mb(pid: int) -> float:
    """Peak RSS (VmHWM) of a process and its children, from /proc."""
    total = 0.0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def scoring_figures(
    deployment_id: int, n_captures: int, labelled: int, queries: int, scale_sample: int, exact_queries: int
) -> dict:
    import numpy as np
    from django.utils import timezone

    from active import drift
    from active.novelty import NoveltyScorer
    from labelhub.production import scoring
    from labelhub.production.models import Capture, Deployment

    deployment = Deployment.objects.select_related("project", "model_run__snapshot").get(pk=deployment_id)
    # The job is timed on the captures that carry their embedding: the text-only ones would time
    # the MiniLM encoder on two CPU cores instead (bench/al_round.py measures that).
    Capture.objects.filter(deployment=deployment, embedding__isnull=True).update(scored_at=timezone.now())
    assert Capture.objects.filter(deployment=deployment, scored_at__isnull=True).count() >= n_captures
    started = time.perf_counter()
    scorers = scoring.scorers_for(deployment, "cpu")  # once per task: imports, reference, head
    setup_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scored = scoring.score_pending(deployment, "cpu", scorers=scorers)
    job_seconds = time.perf_counter() - started
    print(
        f"scoring job: {scored} in {job_seconds:.1f} s (setup {setup_seconds:.1f} s)",
        file=sys.stderr,
        flush=True,
    )

    rng = np.random.default_rng(0)
    reference = rng.standard_normal((labelled, 384), dtype=np.float32)
    started = time.perf_counter()
    scorer = NoveltyScorer(reference, scale_sample=scale_sample)
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    query_vectors = rng.standard_normal((queries, 384), dtype=np.float32)
    indexed_distances = scorer.distances(query_vectors)
    novelty_seconds = time.perf_counter() - started
    print(f"novelty: {queries} queries in {novelty_seconds:.1f} s", file=sys.stderr, flush=True)
    index = scorer.index
    exact = NoveltyScorer(reference, scale_sample=2, exact_max=len(reference))
    del reference
    started = time.perf_counter()
    exact_distances = exact.distances(query_vectors[:exact_queries])
    exact_seconds = time.perf_counter() - started
    del exact
    from scipy.stats import spearmanr

    indexed_distances = indexed_distances[:exact_queries]
    agreement = spearmanr(indexed_distances, exact_distances).statistic
    excess = float(np.mean(indexed_distances / np.maximum(exact_distances, 1e-9) - 1))
    del scorer

    ref = rng.standard_normal((1000, 384), dtype=np.float32)
    prod = rng.standard_normal((1000, 384), dtype=np.float32) + 0.02
    counts = np.full(5, 200)
    started = time.perf_counter()
    windows = 3
    for seed in range(windows):
        drift.check_window(ref, prod, counts, counts, seed=seed)
    return {
        "job_records_per_s": round(scored / job_seconds),
        "job_records": scored,
        "job_setup_seconds": round(setup_seconds, 1),
        "job_reference_vectors": 2000 * 8 // 10,
        "novelty_reference_vectors": labelled,
        "novelty_scale_sample": scale_sample,
        "novelty_scale_build_seconds": round(build_seconds, 1),
        "novelty_records_per_s": round(queries / novelty_seconds),
        "novelty_index": {"lists": index.n_lists, "probed": index.n_probe} if index is not None else None,
        "novelty_exact_records_per_s": round(exact_queries / exact_seconds, 1),
        "novelty_index_vs_exact_distance_rank_correlation": round(float(agreement), 4),
        "novelty_index_distance_excess": round(excess, 4),
        "drift_seconds_per_window": round((time.perf_counter() - started) / windows, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text-batches", type=int, default=20, help="batches of 10,000 text records")
    parser.add_argument(
        "--embedding-batches", type=int, default=20, help="batches of 2,000 records with embeddings"
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--labelled", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument(
        "--scale-sample", type=int, default=5_000, help="reference vectors of the percentile scale"
    )
    parser.add_argument("--exact-queries", type=int, default=100, help="queries also searched exactly")
    args = parser.parse_args()

    database_url = postgres_url_or_exit("capture.py")
    with scratch_database(database_url, "capture") as (bench_url, _):
        os.environ["DATABASE_URL"] = bench_url
        data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"labelhub-bench-capture-{os.getpid()}"
        os.environ["LABELHUB_DATA_DIR"] = str(data_dir)
        project_id, deployment_id, token = seed_deployment()
        text = bodies(args.text_batches, 10_000, embedding=False, tag="t")
        with_embedding = bodies(args.embedding_batches, 2_000, embedding=True, tag="e")
        port = free_port()
        env = {**os.environ, "DEBUG": "0", "LOG_LEVEL": "WARNING", "DB_CONN_MAX_AGE": "600"}
        env.pop("REDIS_URL", None)
        server = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "gunicorn",
                "labelhub.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--worker-class",
                "gthread",
                "--threads",
                "2",
                "--log-level",
                "warning",
                "--timeout",
                "300",
            ],  # fmt: skip
            cwd=ROOT,
            env=env,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.2)
            path = f"/api/projects/{project_id}/deployments/{deployment_id}/captures/"
            post_all(port, path, token, bodies(1, 1000, embedding=False, tag="warm"), 1)
            text_seconds, text_created = post_all(port, path, token, text, args.clients)
            emb_seconds, emb_created = post_all(port, path, token, with_embedding, args.clients)
            server_mb = server_peak_mb(server.pid)
            print(
                f"capture: text {text_created / text_seconds:.0f}/s, embedding {emb_created / emb_seconds:.0f}/s",
                file=sys.stderr,
                flush=True,
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        figures = scoring_figures(
            deployment_id, emb_created, args.labelled, args.queries, args.scale_sample, args.exact_queries
        )
        from django.db import connections

        connections.close_all()
    print(
        json.dumps(
            {
                "capture_text": {
                    "records": text_created,
                    "seconds": round(text_seconds, 2),
                    "records_per_s": round(text_created / text_seconds),
                    "target_records_per_s": 20_000,
                },
                "capture_embedding_384": {
                    "records": emb_created,
                    "seconds": round(emb_seconds, 2),
                    "records_per_s": round(emb_created / emb_seconds),
                    "target_records_per_s": 5_000,
                },
                "scoring": {k: v for k, v in figures.items() if k != "drift_seconds_per_window"},
                "drift_seconds_per_window": figures["drift_seconds_per_window"],
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "server_peak_rss_mb": round(server_mb),
                "server": f"gunicorn, {args.workers} workers x 2 threads, {args.clients} clients",
                "cpus": os.cpu_count(),
                "load_average": [round(v, 2) for v in os.getloadavg()],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
