"""Benchmark: active-learning rounds over a large pool of cached embeddings, MiniLM throughput, and
embedding shards shared by several workers.

    .venv/bin/python bench/al_round.py [--pool 1000000] [--device auto|cpu|cuda] [--texts 2000]
    DATABASE_URL=postgres://… .venv/bin/python bench/al_round.py --shard-pool 10000 --workers 1,2
    DATABASE_URL=postgres://… .venv/bin/python bench/al_round.py --score-pool 1000000 --score-shards 4 --workers 1,2

Round mode: creates a scratch project with ``--pool`` items in the database named by DATABASE_URL
(SQLite by default), writes synthetic 384-d fp16 embeddings for them into a temporary embedding
store (as the MiniLM backbone would have cached them), runs a cold-start round (no labels yet), then
labels ``--labels`` items and runs a round with ``--strategy`` (default ``auto``) — both real rounds
in process (``active.jobs.run_round``: cache check, train, evaluate, score, select, queue write).
Then it measures MiniLM text-embedding throughput.

Shard mode (``--shard-pool``, needs PostgreSQL: the workers are separate processes): a project of
that many short texts, embedded by a round split into ``--shards`` shard tasks, once per worker
count in ``--workers``; each time with an empty cache and that many ``manage.py al_worker
--threads 1`` processes (OMP_NUM_THREADS=1) started first; timed from the round's request until it
is done. The vectors of every run are compared with the first.

Score-shard mode (``--score-pool``, needs PostgreSQL): a project of that many items with cached
synthetic vectors and ``--labels`` labels; one round in ``--workers``' first count of workers that
scores the pool itself, then one per worker count in ``--workers`` whose scoring is split into
``--score-shards`` shard tasks (``active.score_shards``), each with that many ``manage.py al_worker
--threads 1`` processes (OMP_NUM_THREADS=1). Reports the whole round's wall time and its scoring
phase: the score stage of an unsharded round; from handing out the shards to the probabilities
gathered for a sharded one (queue and poll latency included). That the sharded selection equals the
unsharded one is the tests' business (tests/active/test_score_shards.py): rounds here differ in id,
so in seed.

Prints one JSON object; cleans up after itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from active import jobs, services  # noqa: E402
from active.devices import resolve_device  # noqa: E402
from active.embeddings import TEXT_BACKBONE, TEXT_DIM, TextEncoder  # noqa: E402
from active.store import EmbeddingStore  # noqa: E402
from labelhub.projects.models import Annotation, Item, LabelClass, Project  # noqa: E402
from labelhub.queues.models import QueueEntry  # noqa: E402

CLASSES = ("sports", "politics", "science", "music", "travel", "food", "finance", "health")
WORDS = [
    "the",
    "a",
    "wolf",
    "dog",
    "cat",
    "model",
    "label",
    "queue",
    "round",
    "score",
    "pool",
    "batch",
    "river",
    "mountain",
    "city",
    "data",
    "fast",
    "slow",
]


def timed_round(project: Project, device: str):
    """Request a round and run it in this process: ``(the finished round, wall seconds)``."""
    model_round, _ = services.request_round(project, device=device)
    start = time.perf_counter()
    jobs.run_round(model_round.pk, device=device)
    wall = time.perf_counter() - start
    model_round.refresh_from_db()
    return model_round, wall


def create_items(project: Project, count: int) -> float:
    """Insert ``count`` text items; COPY on PostgreSQL, batched INSERTs elsewhere. Returns seconds."""
    start = time.perf_counter()
    if connection.vendor == "postgresql":
        table = Item._meta.db_table
        sql = f"COPY {table} (project_id, external_id, payload, content_hash, created_at) FROM STDIN"  # noqa: S608
        with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for i in range(count):
                copy.write_row((project.pk, f"b{i}", f'{{"text": "bench item {i}"}}', f"{i:064x}", "now"))
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")  # as the importer does after a large import
    else:
        batch = []
        for i in range(count):
            batch.append(
                Item(
                    project=project,
                    external_id=f"b{i}",
                    payload={"text": f"bench item {i}"},
                    content_hash=f"{i:064x}",
                )
            )
            if len(batch) == 20000:
                Item.objects.bulk_create(batch)
                batch = []
        Item.objects.bulk_create(batch)
    return time.perf_counter() - start


def write_embeddings(
    project: Project, rng: np.random.Generator, chunk: int = 200_000
) -> tuple[np.ndarray, float]:
    """Synthetic MiniLM-like vectors (unit norm, one cluster per class) cached for every item; returns classes."""
    start = time.perf_counter()
    store = EmbeddingStore(project.pk, TEXT_BACKBONE, TEXT_DIM)
    centres = rng.normal(size=(len(CLASSES), TEXT_DIM)).astype(np.float32)
    ids = np.fromiter(
        Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True), np.int64
    )
    truth = rng.integers(0, len(CLASSES), len(ids))
    for s in range(0, len(ids), chunk):
        y = truth[s : s + chunk]
        vectors = centres[y] * 0.2 + rng.normal(size=(len(y), TEXT_DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.append(ids[s : s + chunk], vectors)
    return ids, truth, time.perf_counter() - start


def text_throughput(device: str, count: int) -> dict:
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(4, 14))) for _ in range(count)]
    start = time.perf_counter()
    encoder = TextEncoder.get(device)
    load = time.perf_counter() - start
    encoder.encode(texts[:64])  # warm-up (first-call kernels)
    start = time.perf_counter()
    encoder.encode(texts, batch_size=256 if device == "cuda" else 128)
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "device": device,
        "texts": count,
        "words_per_text": "4-13",
        "load_s": round(load, 3),
        "seconds": round(seconds, 3),
        "items_per_s": round(count / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--texts", type=int, default=2000, help="Texts for the MiniLM throughput figure (0: skip)."
    )
    parser.add_argument("--shard-pool", type=int, default=0, help="Shard mode: texts in the pool.")
    parser.add_argument("--shards", type=int, default=8, help="Shard mode: shard tasks per round.")
    parser.add_argument("--workers", default="1,2", help="Shard mode: worker counts to compare.")
    parser.add_argument(
        "--score-pool", type=int, default=0, help="Score-shard mode: store rows (items with cached vectors)."
    )
    parser.add_argument(
        "--score-shards", type=int, default=4, help="Score-shard mode: shard tasks per round."
    )
    args = parser.parse_args()
    if args.score_pool:
        print(
            json.dumps(
                score_shard_benchmark(
                    args.score_pool,
                    args.labels,
                    args.strategy,
                    args.score_shards,
                    [int(w) for w in args.workers.split(",")],
                )
            )
        )
        return
    if args.shard_pool:
        print(
            json.dumps(
                shard_benchmark(args.shard_pool, args.shards, [int(w) for w in args.workers.split(",")])
            )
        )
        return

    import torch

    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    project = Project.objects.create(
        name=f"bench-al-{uuid.uuid4().hex[:8]}",
        al_strategy=args.strategy,
        al_batch_size=args.batch,
        al_trigger_labels=0,
    )
    result: dict = {
        "database": connection.vendor,
        "device": device,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "pool": args.pool,
        "labels": args.labels,
        "dim": TEXT_DIM,
        "strategy": args.strategy,
        "batch": args.batch,
    }
    data_dir = Path(tempfile.mkdtemp(prefix="labelhub-bench-al-"))
    settings.LABELHUB_DATA_DIR = data_dir
    try:
        LabelClass.objects.bulk_create(
            LabelClass(project=project, name=c, order=i) for i, c in enumerate(CLASSES)
        )
        result["setup_items_s"] = round(create_items(project, args.pool), 2)
        ids, truth, seconds = write_embeddings(project, rng)
        result["setup_embeddings_s"] = round(seconds, 2)
        cold_round, cold_wall = timed_round(project, device)
        result["cold_start_round"] = {
            "state": cold_round.state,
            "wall_s": round(cold_wall, 3),
            "stages_s": cold_round.timings,
            "cold_start": bool(cold_round.metrics.get("cold_start")),
            "strategy_used": cold_round.metrics.get("strategy_used") or cold_round.metrics.get("strategy"),
            "queued": cold_round.selected_count,
            "error": cold_round.error or None,
        }
        labelled = rng.choice(len(ids), size=args.labels, replace=False)
        Annotation.objects.bulk_create(
            Annotation(item_id=int(ids[i]), labels=[CLASSES[truth[i]]]) for i in labelled
        )
        model_round, wall = timed_round(project, device)
        result["round"] = {
            "state": model_round.state,
            "wall_s": round(wall, 3),
            "stages_s": model_round.timings,
            "train_eval_score_select_write_s": round(
                sum(v for k, v in model_round.timings.items() if k not in ("embed", "total")), 3
            ),
            "pool_scored": model_round.pool_size,
            "queued": model_round.selected_count,
            "suggestions_written": model_round.suggestions_written,
            "accuracy": model_round.metrics.get("accuracy"),
            "metrics": {k: v for k, v in model_round.metrics.items() if k != "class_counts"},
            "error": model_round.error or None,
        }
        print(json.dumps(result), file=sys.stderr, flush=True)  # a figure survives a failed clean-up
        if args.texts:
            result["text_embedding"] = text_throughput(device, args.texts)
    finally:
        shutil.rmtree(
            data_dir, ignore_errors=True
        )  # first: a failing clean-up below must not leave 0.8 GB behind
        QueueEntry.objects.filter(project=project)._raw_delete(QueueEntry.objects.db)
        Annotation.objects.filter(item__project=project).delete()
        Item.objects.filter(project=project)._raw_delete(Item.objects.db)
        from active.models import ModelRound

        ModelRound.objects.filter(project=project).delete()
        project.delete()
    result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


def varied_texts(count: int, rng: np.random.Generator) -> list[str]:
    """Short distinct texts (4–13 words), the length of typical labeling items' titles."""
    return [f"{i} " + " ".join(rng.choice(WORDS, size=rng.integers(4, 14))) for i in range(count)]


def start_workers(count: int, env: dict) -> list[subprocess.Popen]:
    """``count`` ``al_worker --threads 1`` processes, returned once each has started serving."""
    manage = str(Path(__file__).resolve().parent.parent / "manage.py")
    workers = [
        subprocess.Popen(
            [sys.executable, manage, "al_worker", "--device", "cpu", "--threads", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(count)
    ]
    for worker in workers:
        for line in worker.stdout:
            if "active-learning rounds on" in line:
                break
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def shard_benchmark(pool: int, shard_count: int, worker_counts: list[int]) -> dict:
    """Wall time of a sharded round's embedding with 1, 2, … single-thread workers, and vector equality."""
    from functools import partial

    from active import tasks
    from active.models import ModelRound

    if connection.vendor != "postgresql":
        raise SystemExit("shard mode runs workers in other processes: set DATABASE_URL to PostgreSQL")
    rng = np.random.default_rng(0)
    project = Project.objects.create(
        name=f"bench-shards-{uuid.uuid4().hex[:8]}", al_batch_size=100, al_trigger_labels=0
    )
    LabelClass.objects.bulk_create(
        LabelClass(project=project, name=c, order=i) for i, c in enumerate(CLASSES)
    )
    texts = varied_texts(pool, rng)
    Item.objects.bulk_create(
        (
            Item(project=project, external_id=f"t{i}", payload={"text": t}, content_hash=f"{i:064x}")
            for i, t in enumerate(texts)
        ),
        batch_size=5000,
    )
    result: dict = {
        "database": connection.vendor,
        "cpu_count": os.cpu_count(),
        "pool_texts": pool,
        "shards": shard_count,
        "runs": [],
    }
    reference = None
    data_dirs = []
    try:
        for count in worker_counts:
            data_dir = Path(tempfile.mkdtemp(prefix=f"labelhub-bench-shards-{count}-"))
            data_dirs.append(data_dir)
            settings.LABELHUB_DATA_DIR = data_dir
            model_round, wall, load_before = round_on_workers(
                project, count, data_dir, partial(tasks.enqueue_round, shard_count=shard_count), poll=0.5
            )
            store = EmbeddingStore(project.pk, TEXT_BACKBONE, TEXT_DIM)
            ids = np.sort(store.ids)
            vectors = np.asarray(store.get(ids))
            run = {
                "workers": count,
                "threads_per_worker": 1,
                "state": model_round.state,
                "wall_s": round(wall, 2),
                "texts_per_s": round(pool / wall, 1),
                "embed_stage_in_round_s": model_round.timings.get("embed"),
                "embedded_by_round_itself": model_round.metrics.get("embedded_new"),
                "cached": len(ids),
                "loadavg_1m_before": round(load_before, 2),
                "loadavg_1m_after": round(os.getloadavg()[0], 2),
            }
            if reference is None:
                reference = (ids, vectors)
            else:
                same_ids = np.array_equal(reference[0], ids)
                diff = np.abs(reference[1].astype(np.float32) - vectors) if same_ids else None
                run["same_item_ids"] = bool(same_ids)
                run["bit_identical_rows"] = (
                    round(float((diff == 0).all(axis=1).mean()), 4) if diff is not None else None
                )
                run["max_abs_diff"] = float(diff.max()) if diff is not None else None
                run["time_ratio_vs_first"] = round(wall / result["runs"][0]["wall_s"], 3)
            result["runs"].append(run)
            print(json.dumps(run), file=sys.stderr, flush=True)  # a figure survives a failed clean-up
            ModelRound.objects.filter(project=project).delete()
    finally:
        for data_dir in data_dirs:
            shutil.rmtree(data_dir, ignore_errors=True)
        QueueEntry.objects.filter(project=project)._raw_delete(QueueEntry.objects.db)
        Item.objects.filter(project=project)._raw_delete(Item.objects.db)
        project.delete()
    result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return result


def round_on_workers(project: Project, count: int, data_dir: Path, enqueue, *, poll: float):
    """Request a round and wait for it to end on ``count`` one-thread ``al_worker`` processes:
    ``(round, wall seconds, 1-minute load before)``."""
    from active.models import ModelRound

    workers = start_workers(count, worker_env(data_dir))
    try:
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        model_round, _ = jobs.request_round(project, enqueue=enqueue, device="cpu")
        while True:
            time.sleep(poll)
            model_round.refresh_from_db()
            if model_round.state in (ModelRound.State.DONE, ModelRound.State.FAILED):
                break
        return model_round, time.perf_counter() - start, load_before
    finally:
        stop_workers(workers)


def worker_env(data_dir: Path) -> dict:
    return {
        **os.environ,
        "LABELHUB_DATA_DIR": str(data_dir),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "LABELHUB_NOISE_AFTER_ROUND": "0",  # the figures are the rounds'; a noise check would share the cores
    }


def tasks_of_round(round_id: int, suffix: str) -> list:
    """The task rows named ``…<suffix>`` whose first argument is the round."""
    from django_tasks_db.models import DBTaskResult

    return [
        t
        for t in DBTaskResult.objects.filter(task_path__endswith=suffix)
        if ((t.args_kwargs or {}).get("args") or [None])[0] == round_id
    ]


def shard_latencies(rounds_tasks: list, shard_rows: list) -> dict:
    """Where a sharded round's scoring phase went, from the task rows' own times: handing the shards
    out (the deferring round task ends → the first shard starts), the shards (first start → last
    end, and the sum of their run times) and resuming (last shard ends → the round task that finished it starts)."""
    deferred = min(t.finished_at for t in rounds_tasks if t.finished_at)
    first = min(t.started_at for t in shard_rows)
    last = max(t.finished_at for t in shard_rows)
    resumed = min(t.started_at for t in rounds_tasks if t.started_at and t.started_at >= last)
    return {
        "hand_out_s": round((first - deferred).total_seconds(), 3),
        "shards_span_s": round((last - first).total_seconds(), 3),
        "shard_task_s": [round((t.finished_at - t.started_at).total_seconds(), 3) for t in shard_rows],
        "resume_s": round((resumed - last).total_seconds(), 3),
    }


def score_shard_benchmark(
    pool: int, labels: int, strategy: str, shard_count: int, worker_counts: list[int]
) -> dict:
    """A round's wall time and scoring phase, unsharded and in ``shard_count`` score shards, with
    1, 2, … single-thread workers."""
    from functools import partial

    from django_tasks_db.models import DBTaskResult

    from active import tasks
    from active.models import ModelRound, NoiseCheck

    if connection.vendor != "postgresql":
        raise SystemExit("score-shard mode runs workers in other processes: set DATABASE_URL to PostgreSQL")
    rng = np.random.default_rng(0)
    project = Project.objects.create(
        name=f"bench-score-shards-{uuid.uuid4().hex[:8]}",
        al_strategy=strategy,
        al_batch_size=100,
        al_trigger_labels=0,
    )
    LabelClass.objects.bulk_create(
        LabelClass(project=project, name=c, order=i) for i, c in enumerate(CLASSES)
    )
    data_dir = Path(tempfile.mkdtemp(prefix="labelhub-bench-score-shards-"))
    settings.LABELHUB_DATA_DIR = data_dir
    result: dict = {
        "database": connection.vendor,
        "cpu_count": os.cpu_count(),
        "pool": pool,
        "labels": labels,
        "strategy": strategy,
        "score_shards": shard_count,
        "runs": [],
    }
    try:
        result["setup_items_s"] = round(create_items(project, pool), 2)
        ids, truth, seconds = write_embeddings(project, rng)
        result["setup_embeddings_s"] = round(seconds, 2)
        labelled = rng.choice(len(ids), size=labels, replace=False)
        Annotation.objects.bulk_create(
            Annotation(item_id=int(ids[i]), labels=[CLASSES[truth[i]]]) for i in labelled
        )
        plans = [(worker_counts[0], 0)] + [(count, shard_count) for count in worker_counts]
        for count, shards_asked in plans:
            # The strategy simulation a done ``auto`` round queues would be the next run's first task.
            DBTaskResult.objects.filter(task_path__endswith=".choose_strategy", status="READY").delete()
            enqueue = partial(tasks.enqueue_round, score_shard_count=shards_asked)
            model_round, wall, load_before = round_on_workers(project, count, data_dir, enqueue, poll=0.2)
            timings = model_round.timings
            run = {
                "workers": count,
                "threads_per_worker": 1,
                "score_shards": shards_asked,
                "state": model_round.state,
                "error": model_round.error or None,
                "wall_s": round(wall, 2),
                "scoring_phase_s": round(timings.get("score", 0) + timings.get("score_shards_wait", 0), 3),
                "stages_s": timings,
                "score_shards_metrics": model_round.metrics.get("score_shards"),
                "rows_per_s_in_scoring_phase": round(
                    pool / max(timings.get("score", 0) + timings.get("score_shards_wait", 0), 1e-9)
                ),
                "loadavg_1m_before": round(load_before, 2),
                "loadavg_1m_after": round(os.getloadavg()[0], 2),
            }
            if shards_asked:
                run["latencies"] = shard_latencies(
                    tasks_of_round(model_round.pk, jobs.ROUND_TASK_SUFFIX),
                    tasks_of_round(model_round.pk, ".score_shard"),
                )
            result["runs"].append(run)
            print(json.dumps(run), file=sys.stderr, flush=True)  # a figure survives a failed clean-up
            QueueEntry.objects.filter(project=project)._raw_delete(QueueEntry.objects.db)
            Item.objects.filter(project=project, suggestion__isnull=False).update(suggestion=None)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        QueueEntry.objects.filter(project=project)._raw_delete(QueueEntry.objects.db)
        Annotation.objects.filter(item__project=project).delete()
        NoiseCheck.objects.filter(project=project).delete()
        Item.objects.filter(project=project)._raw_delete(Item.objects.db)
        ModelRound.objects.filter(project=project).delete()
        project.delete()
    result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return result


if __name__ == "__main__":
    main()
