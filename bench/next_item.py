"""Benchmark: "next item" and "submit" over HTTP with 1,000,000 items and 32 annotators.

Creates a scratch PostgreSQL database next to ``DATABASE_URL`` (``<name>_bench_next_item``),
migrates it, COPYs the items in, starts labelhub under uvicorn (several worker processes) on
127.0.0.1 with its housekeeper (``keep_queues``: submit reactions, queue top-ups, lease
expiry), and lets 32 annotator clients (token auth, keep-alive connections, spread over a few
client processes) loop next → submit for a bounded time. Prints one JSON object with p50/p95/p99
latency of both calls and the request rate; drops the scratch database afterwards.

    DATABASE_URL=postgres://… .venv/bin/python bench/next_item.py [--items N] [--clients K] [--seconds S]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from scratch import free_port, postgres_url_or_exit, process_cpu_seconds, scratch_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")


def seed(n_items: int, n_clients: int) -> tuple[int, list[str], list[str]]:
    """Migrate, then one project with ``n_items`` items (COPY) and ``n_clients`` annotators."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, connections
    from rest_framework.authtoken.models import Token

    from labelhub.projects.models import Item, LabelClass, Project, ProjectMembership

    call_command("migrate", interactive=False, verbosity=0)
    classes = ["cat", "dog", "wolf"]
    # Defaults of a real project: 10 % overlap to 3 annotators, 5 % gold rate (no gold marked).
    project = Project.objects.create(name="bench next item")
    LabelClass.objects.bulk_create(
        LabelClass(project=project, name=c, key=str(i + 1), order=i) for i, c in enumerate(classes)
    )
    User = get_user_model()
    users = User.objects.bulk_create(User(username=f"bench-annotator-{i}") for i in range(n_clients))
    ProjectMembership.objects.bulk_create(ProjectMembership(project=project, user=u) for u in users)
    tokens = [Token.objects.create(user=u).key for u in users]
    tag = uuid.uuid4().hex[:8]
    columns = "project_id, external_id, payload, content_hash, created_at"
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0].isoformat()
        with cursor.cursor.copy(f"COPY {Item._meta.db_table} ({columns}) FROM STDIN") as copy:
            chunk = io.StringIO()
            for i in range(n_items):
                payload = json.dumps({"text": f"benchmark sentence number {i} about an animal"})
                chunk.write(f"{project.pk}\tb{i}\t{payload}\t{tag}{i:056d}\t{now}\n")
                if i % 50000 == 49999:
                    copy.write(chunk.getvalue())
                    chunk = io.StringIO()
            copy.write(chunk.getvalue())
    # A freshly COPYed million rows would otherwise be vacuumed by autovacuum in the middle of the
    # measurement, as a long-lived database never is: do it now (outside a transaction).
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Item._meta.db_table}")
        cursor.execute("ANALYZE")
    connections.close_all()
    return project.pk, tokens, classes


def server_command(kind: str, port: int, workers: int, threads: int) -> list[str]:
    """gunicorn (WSGI, threaded workers) or uvicorn (ASGI) serving labelhub on 127.0.0.1."""
    if kind == "gunicorn":
        return [
            sys.executable, "-m", "gunicorn", "labelhub.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "gthread",
            "--threads", str(threads), "--log-level", "warning", "--backlog", "256", "--keep-alive", "120",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", "labelhub.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning",
        "--lifespan", "off",
    ]  # fmt: skip


def start_server(command: list[str], port: int, env: dict) -> subprocess.Popen:
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def client_process(
    port: int,
    project_id: int,
    tokens: list[str],
    classes: list[str],
    window: tuple[float, float],
    max_loops: int,
    think: float = 0.0,
):
    """One process of annotator threads; returns (next latencies, submit latencies, errors).

    Annotators work from the start without pause; only calls that begin inside ``window``
    (wall-clock seconds) are recorded, so the warm-up's first fills and the simultaneous first
    "next" of every client never reach the figures. With ``think`` the annotators also arrive
    at random moments, as people do, instead of all at the same instant.
    """
    results = {"next": [], "submit": [], "errors": 0, "empty": 0}
    lock = threading.Lock()
    record_from, stop_at = window

    def annotator(token: str):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        rng = random.Random(token)
        nexts, submits, errors, empty = [], [], 0, 0
        if think:
            time.sleep(rng.uniform(0, think))
        for _ in range(max_loops):
            if time.time() >= stop_at:
                break
            recording = time.time() >= record_from
            started = time.perf_counter()
            conn.request("POST", f"/api/projects/{project_id}/queue/next/", body=b"", headers=headers)
            response = conn.getresponse()
            body = response.read()
            if recording:
                nexts.append((time.perf_counter() - started) * 1000)
            if response.status == 204:
                empty += recording
                continue
            if response.status != 200:
                errors += recording
                continue
            lease_id = json.loads(body)["lease"]["id"]
            if think:
                # An annotator reads the item before submitting: exponential around the mean.
                time.sleep(min(rng.expovariate(1 / think), 10 * think))
            submit = json.dumps({"labels": [rng.choice(classes)], "time_spent": 1.0}).encode()
            recording = time.time() >= record_from
            started = time.perf_counter()
            conn.request("POST", f"/api/leases/{lease_id}/submit/", body=submit, headers=headers)
            response = conn.getresponse()
            response.read()
            if recording:
                submits.append((time.perf_counter() - started) * 1000)
                errors += response.status != 201
        conn.close()
        with lock:
            results["next"] += nexts
            results["submit"] += submits
            results["errors"] += errors
            results["empty"] += empty

    threads = [threading.Thread(target=annotator, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children (gunicorn's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(k) for k in children.read_text().split()] if children.exists() else []
    return (process_cpu_seconds(pid) or 0.0) + sum(tree_cpu_seconds(k) for k in kids)


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on this machine (backends, WAL writer, autovacuum)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            total += process_cpu_seconds(int(stat.parent.name)) or 0.0
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy (not idle or waiting on I/O), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def drain_reactions(env: dict) -> tuple[int, float]:
    """Reactions still pending when the clients stop, and how long the keeper takes to finish them."""
    import psycopg

    from labelhub.queues.models import PendingReaction

    count = f"SELECT count(*) FROM {PendingReaction._meta.db_table}"  # noqa: S608
    started = time.perf_counter()
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        backlog = conn.execute(count).fetchone()[0]
        while conn.execute(count).fetchone()[0] and time.perf_counter() - started < 60:
            time.sleep(0.1)
    return backlog, round(time.perf_counter() - started, 2)


def percentiles(values: list[float]) -> dict:
    import numpy as np

    if not values:
        return {"count": 0}
    arr = np.asarray(values)
    return {
        "count": len(values),
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p95_ms": round(float(np.percentile(arr, 95)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
        "max_ms": round(float(arr.max()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0, help="Measured time per run (after warm-up).")
    parser.add_argument("--warmup", type=float, default=5.0, help="Seconds of work before recording.")
    parser.add_argument(
        "--think",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[0.0],
        help="Mean seconds an annotator spends on an item between next and submit (0: saturate); "
        "a comma list (e.g. 4,2,1,0.5,0) measures one window each, slowest first, on the same data",
    )
    parser.add_argument("--plot", type=Path, help="With several --think values: draw latency vs rate here.")
    parser.add_argument("--max-loops", type=int, default=100_000, help="Bound per client.")
    parser.add_argument("--workers", type=int, default=max(2, min(4, os.cpu_count() or 2)))
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument(
        "--server",
        choices=["gunicorn", "uvicorn"],
        default="gunicorn",
        help="gunicorn: WSGI gthread workers with persistent DB connections (the API tier); "
        "uvicorn: the ASGI app, with a psycopg connection pool per process (DB_POOL=2,16)",
    )
    parser.add_argument("--threads", type=int, default=16, help="Threads per gunicorn worker.")
    parser.add_argument(
        "--reactions",
        choices=["deferred", "inline"],
        default="deferred",
        help="LABELHUB_REACTIONS of the server: deferred leaves QA/active-learning reactions to "
        "keep_queues (the web tier's setting under load); inline runs them in the submit request",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args()

    with scratch_database(postgres_url_or_exit("next_item.py"), "next_item", keep=args.keep) as (url, _):
        os.environ["DATABASE_URL"] = url
        measure(args)


def measure(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()
    started = time.perf_counter()
    project_id, tokens, classes = seed(args.items, args.clients)
    seed_s = time.perf_counter() - started
    port = free_port()
    # Django under ASGI runs each request in its own thread: persistent connections would pile
    # up one per thread (past max_connections), so the ASGI server borrows them from a pool.
    env = {
        **os.environ,
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "DB_CONN_MAX_AGE": "600" if args.server == "gunicorn" else "0",
        "DB_POOL": "" if args.server == "gunicorn" else "2,16",
        "LABELHUB_REACTIONS": args.reactions,
    }
    env.pop("REDIS_URL", None)  # no pages listen here; the in-memory layer keeps announcements local
    server = start_server(server_command(args.server, port, args.workers, args.threads), port, env)
    keeper = subprocess.Popen(  # noqa: S603
        ["nice", "-n", "10", sys.executable, "manage.py", "keep_queues", "--every", "0.5"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    runs = []
    try:
        for think in args.think:
            runs.append(run_clients(args, think, port, project_id, tokens, classes, (server, keeper), env))
    finally:
        for process in (server, keeper):
            process.terminate()
            process.wait(timeout=30)
    report = {
        "benchmark": "next_item",
        "items": args.items,
        "clients": args.clients,
        "server": f"{args.server}, {args.workers} worker processes"
        + (f" x {args.threads} threads" if args.server == "gunicorn" else "")
        + ", 127.0.0.1",
        "reactions": args.reactions,
        "seconds_per_run": args.seconds,
        "seed_s": round(seed_s, 1),
        "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    if len(runs) == 1:
        report.update(runs[0])
    else:
        report["runs"] = runs
        under = [r["items_labelled_per_s"] for r in runs if r["next"].get("p99_ms", 1e9) < 50]
        report["most_items_per_s_with_next_p99_under_50ms"] = max(under, default=None)
    if args.plot:
        plot(runs, report, args.plot)
        report["plot"] = str(args.plot)
    print(json.dumps(report))


def run_clients(args, think: float, port: int, project_id: int, tokens, classes, processes, env) -> dict:
    """One measured window of the 32 annotators at ``think`` seconds per item (0: no pause)."""
    groups = [tokens[i :: args.client_processes] for i in range(args.client_processes)]
    ctx = multiprocessing.get_context("spawn")
    record_from = time.time() + 2 + args.warmup  # 2 s for the client processes to start
    window = (record_from, record_from + args.seconds)
    named = dict(zip(("server", "keeper"), processes, strict=True))
    with ctx.Pool(len(groups)) as pool:
        pending = pool.starmap_async(
            client_process,
            [(port, project_id, g, classes, window, args.max_loops, think) for g in groups],
        )
        meters = {name: (lambda pid=proc.pid: tree_cpu_seconds(pid)) for name, proc in named.items()}
        meters["postgres"] = postgres_cpu_seconds
        meters["machine_busy"] = machine_busy_seconds
        time.sleep(max(0.0, window[0] - time.time()))
        cpu_before = {name: meter() for name, meter in meters.items()}
        time.sleep(max(0.0, window[1] - time.time()))
        cpu = {name: round(meter() - cpu_before[name], 1) for name, meter in meters.items()}
        parts = pending.get()
    backlog, drain_s = drain_reactions(env)
    nexts = [v for p in parts for v in p["next"]]
    submits = [v for p in parts for v in p["submit"]]
    return {
        "think_s": think,
        "next": percentiles(nexts),
        "submit": percentiles(submits),
        "requests_per_s": round((len(nexts) + len(submits)) / args.seconds, 1),
        "items_labelled_per_s": round(len(submits) / args.seconds, 1),
        "cpu_seconds": cpu,
        "reactions_pending_at_end": backlog,
        "reactions_drained_in_s": drain_s,
        "empty_204": sum(p["empty"] for p in parts),
        "errors": sum(p["errors"] for p in parts),
    }


def plot(runs: list[dict], report: dict, path: Path) -> None:
    """Latency against the labelling rate the 32 annotators reached, one point per think time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # In order of offered load (less time per item first): past saturation the rate stops
    # growing and only the latency does, which is the knee this plot is for.
    runs = sorted(runs, key=lambda r: -r["think_s"] if r["think_s"] else float("inf"))
    rate = [r["items_labelled_per_s"] for r in runs]
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for call, colour in (("next", "tab:blue"), ("submit", "tab:orange")):
        for stat, style in (("p50_ms", "dashed"), ("p99_ms", "solid")):
            axes.plot(
                rate,
                [r[call].get(stat) for r in runs],
                linestyle=style,
                marker="o",
                color=colour,
                label=f"{call} {stat[:3]}",
            )
    for r in runs:
        label = f"{r['think_s']:g} s" if r["think_s"] else "no pause"
        axes.annotate(
            label,
            (r["items_labelled_per_s"], r["next"].get("p99_ms", 0)),
            fontsize=7,
            xytext=(3, 4),
            textcoords="offset points",
        )
    axes.axhline(50, color="grey", linewidth=0.8)
    axes.text(rate[0], 52, "target: next p99 < 50 ms", fontsize=7, color="grey")
    axes.set_yscale("log")
    axes.set_xlabel("items labelled per second (32 annotators; point label = mean time per item)")
    axes.set_ylabel("latency (ms)")
    axes.set_title(f"next / submit latency, {report['items']:,} items, {report['server']}", fontsize=8)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)


if __name__ == "__main__":
    main()
