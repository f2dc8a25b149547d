"""Soak test: 64 annotators over HTTP while faults are injected on a schedule; then the data promises
are checked in SQL.

Creates a scratch PostgreSQL database next to ``DATABASE_URL`` (``<name>_bench_soak``) with two
projects: a healthy one (``--items`` unlabelled items, a few of them gold) and one with nothing
left to serve (3,000 items, every one already labelled). It starts labelhub under gunicorn as
``next_item.py`` does, ``manage.py keep_queues --every 1`` beside it, ``LABELHUB_REACTIONS=deferred``
and a Redis server of its own on a free loopback port (the channel layer; never the machine's
6379). Annotator clients (token auth, keep-alive connections) loop next → think → submit on the
healthy project; a few members of the exhausted project call "next" on it during the exhaustion
phase. Every request, every acknowledged submit and every fault is recorded with wall-clock times.

The schedule, as fractions of ``--seconds`` (default 180): warm-up, a quiet baseline, then
kill -9 of one gunicorn worker (0.18), kill -9 of ``keep_queues`` and its restart 2 s later
(0.28), ``pg_terminate_backend`` of every connection the app holds to the scratch database
(0.38), Redis stopped (0.46) and started again on the same port (0.54), and from 0.62 to the end
the exhausted project's members calling "next" on it (no other fault in that window, so its
latency figures measure the exhaustion alone).

After the clients stop and ``keep_queues`` has drained the reactions (at most 60 s), it prints ONE
JSON object:

- ``acknowledged_submits_lost``: submits answered 201 whose annotation row is missing, or whose
  item, annotator, lease or labels differ from what was acknowledged, or was retracted (must be 0);
- ``entries_over_overlap``: queue entries with more counting annotations (through their leases),
  or more completed + live leases, than ``required_annotations`` (0);
- ``items_labelled_twice_by_one_annotator``: (item, annotator) pairs with two counting human
  annotations (0);
- ``server_errors_5xx_outside_killed_worker``: responses with status >= 500 except those of a
  request that overlapped a worker kill's recovery interval, i.e. started before the replacement
  worker was forked (the master's children list is complete again) and ended after the kill -9
  was sent. Requests in flight on the killed worker itself end without any response (counted in
  ``connection_errors``); the exclusion is deliberately wide (it also spares the other worker
  for that second), so any 5xx it leaves is a defect (0). It is split into
  ``server_errors_5xx_in_flight_at_db_terminate`` (requests that were running while
  ``pg_terminate_backend`` ran: their own connection died under them, mid-query or mid-COMMIT)
  and ``server_errors_5xx_elsewhere`` (requests that met no fault of their own);
- ``next_healthy_while_exhausted``: p50/p95/p99 of "next" on the healthy project for calls that
  started during the exhaustion phase (from 2 s after it began), beside ``next_healthy_baseline``
  (the quiet window before the first fault); target p99 under 100 ms on a 2-core machine;
- ``faults``: the timeline (seconds since the clients started), and 5xx / connection errors per
  phase (the last event before the request ended) with a few response bodies as evidence;
- ``cpu_seconds`` / ``busy_fraction``: CPU of the gunicorn tree, of PostgreSQL and of the whole
  machine during the run. On a shared 2-core machine a busy fraction near 1 with a small server
  share means the latency figures measure the neighbours, not labelhub.

It stops by itself (every loop is bounded) and always cleans up: client processes, gunicorn,
``keep_queues`` and Redis are killed and the scratch database is dropped, also on error or SIGTERM.
Only 127.0.0.1 is contacted.

    DATABASE_URL=postgres://… .venv/bin/python bench/soak.py [--seconds 180] [--clients 64]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from next_item import (
    machine_busy_seconds,
    percentiles,
    postgres_cpu_seconds,
    server_command,
    tree_cpu_seconds,
)
from scratch import free_port, postgres_url_or_exit, scratch_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")

CLASSES = ["cat", "dog", "wolf"]
EXHAUSTED_ITEMS = 3000
GOLD_ITEMS = 20
#: Fault times as fractions of the run (see the module docstring).
SCHEDULE = {
    "baseline_from": 0.08,
    "kill_worker": 0.18,
    "kill_keeper": 0.28,
    "terminate_db": 0.38,
    "stop_redis": 0.46,
    "start_redis": 0.54,
    "exhaust": 0.62,
}
#: A client's call that gets no answer within this many seconds counts as a timeout.
CLIENT_TIMEOUT_S = 30
CONNECTION_ERROR, TIMEOUT = -1, -2


# --- seeding -----------------------------------------------------------------------------------


def seed(n_items: int, n_healthy: int, n_exhausted: int) -> dict:
    """Migrate; a healthy project (COPYed items, a few gold) and an exhausted one (all labelled)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, connections
    from rest_framework.authtoken.models import Token

    from annotators.qa.gold import mark_gold
    from labelhub.projects.models import Annotation, Item, LabelClass, Project, ProjectMembership
    from labelhub.queues.models import Lease, PendingReaction, QueueEntry

    call_command("migrate", interactive=False, verbosity=0)
    User = get_user_model()
    projects = {}
    for name in ("healthy", "exhausted"):
        project = Project.objects.create(name=f"soak {name}")
        LabelClass.objects.bulk_create(
            LabelClass(project=project, name=c, key=str(i + 1), order=i) for i, c in enumerate(CLASSES)
        )
        projects[name] = project
    clients = []
    for group, size in (("healthy", n_healthy), ("exhausted", n_exhausted)):
        users = User.objects.bulk_create(User(username=f"soak-{group}-{i}") for i in range(size))
        ProjectMembership.objects.bulk_create(
            ProjectMembership(project=projects[group], user=u) for u in users
        )
        clients += [(group, Token.objects.create(user=u).key, u.pk) for u in users]
    tag = uuid.uuid4().hex[:8]
    columns = "project_id, external_id, payload, content_hash, created_at"
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0].isoformat()
        for name, count in (("healthy", n_items), ("exhausted", EXHAUSTED_ITEMS)):
            chunk = io.StringIO()
            for i in range(count):
                payload = json.dumps({"text": f"soak sentence {i} of the {name} project"})
                chunk.write(f"{projects[name].pk}\t{name[0]}{i}\t{payload}\t{tag}{name[0]}{i:055d}\t{now}\n")
            with cursor.cursor.copy(f"COPY {Item._meta.db_table} ({columns}) FROM STDIN") as copy:
                copy.write(chunk.getvalue())
    healthy_ids = list(
        Item.objects.filter(project=projects["healthy"]).values_list("pk", flat=True)[:GOLD_ITEMS]
    )
    mark_gold(projects["healthy"], [(pk, [random.choice(CLASSES)]) for pk in healthy_ids])  # noqa: S311
    # "All its items labelled": imported annotations count as labels, so no fill finds anything.
    Annotation.objects.bulk_create(
        (
            Annotation(item_id=pk, labels=[CLASSES[pk % 3]], source=Annotation.Source.IMPORT)
            for pk in Item.objects.filter(project=projects["exhausted"]).values_list("pk", flat=True)
        ),
        batch_size=1000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connections.close_all()
    return {
        "projects": {name: p.pk for name, p in projects.items()},
        "clients": clients,
        "tables": {
            "annotation": Annotation._meta.db_table,
            "entry": QueueEntry._meta.db_table,
            "lease": Lease._meta.db_table,
            "reaction": PendingReaction._meta.db_table,
        },
    }


# --- clients -----------------------------------------------------------------------------------


def client_process(port: int, projects: dict, clients: list, start: float, plan: dict, think: float) -> dict:
    """One process of annotator threads; returns their request records and acknowledged submits.

    A record is ``(group, call, started_at, ms, status)`` with wall-clock ``started_at``;
    status -1 is a dropped connection, -2 no answer in ``CLIENT_TIMEOUT_S``.
    """
    import threading

    out = {"records": [], "acks": [], "bodies_5xx": []}
    lock = threading.Lock()

    def annotator(group: str, token: str, user_id: int) -> None:
        rng = random.Random(token)
        project_id = projects[group]
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        records, acks, bodies = [], [], []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_S)

        def call(name: str, path: str, body: bytes) -> tuple[int, bytes]:
            nonlocal conn
            started = time.time()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                status, payload = response.status, response.read()
            except TimeoutError:
                status, payload = TIMEOUT, b""
            except (OSError, http.client.HTTPException):
                status, payload = CONNECTION_ERROR, b""
            records.append((group, name, started, (time.time() - started) * 1000, status))
            if status < 0:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_S)
            elif status >= 500:
                bodies.append((group, name, started, status, payload[:300].decode(errors="replace")))
            return status, payload

        begin = plan["exhaust"] if group == "exhausted" else start + rng.uniform(0, 1.0)
        time.sleep(max(0.0, begin - time.time()))
        for _ in range(1_000_000):  # bounded; the deadline ends it long before
            if time.time() >= plan["stop"]:
                break
            status, payload = call("next", f"/api/projects/{project_id}/queue/next/", b"")
            if status != 200:
                time.sleep(0.1 if status == 204 else 0.05)  # a page polls again, it does not spin
                continue
            served = json.loads(payload)
            lease_id, item_id = served["lease"]["id"], served["item"]["id"]
            if think:
                time.sleep(min(rng.expovariate(1 / think), 5 * think))
            labels = [rng.choice(CLASSES)]
            body = json.dumps({"labels": labels, "time_spent": 1.0}).encode()
            status, payload = call("submit", f"/api/leases/{lease_id}/submit/", body)
            if status == 201:
                annotation = json.loads(payload)["annotation"]
                acks.append((annotation["id"], lease_id, item_id, user_id, annotation["labels"], labels))
        conn.close()
        with lock:
            out["records"] += records
            out["acks"] += acks
            out["bodies_5xx"] += bodies

    threads = [threading.Thread(target=annotator, args=c, daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, plan["stop"] - time.time() + 2 * CLIENT_TIMEOUT_S))
    with lock:
        return dict(out)


# --- processes and faults ----------------------------------------------------------------------


class Fleet:
    """The processes this run started (each in its own session) and the faults it injects."""

    def __init__(self, env: dict, port: int, workers: int, threads: int, redis_port: int):
        self.env, self.port, self.workers, self.threads, self.redis_port = (
            env,
            port,
            workers,
            threads,
            redis_port,
        )
        self.redis = self.server = self.keeper = None
        self.timeline: list[dict] = []
        self.kill_windows: list[tuple[float, float]] = []
        self.terminate_windows: list[tuple[float, float]] = []
        self.origin = time.time()

    def _spawn(self, command: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(command, cwd=ROOT, env=self.env, start_new_session=True, **kwargs)  # noqa: S603

    def start(self, token: str) -> None:
        self.start_redis(record=False)
        command = server_command("gunicorn", self.port, self.workers, self.threads)
        self.server = self._spawn(command)
        self.start_keeper()
        self.wait_until_serving(token)

    def wait_until_serving(self, token: str) -> None:
        """An open port is not a server: gunicorn binds before its workers import the app (and
        exits when they cannot). Wait for a real 200 from the API, at most 60 s."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                break
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", "/api/projects/", headers={"Authorization": f"Token {token}"})
                if conn.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            time.sleep(0.25)
        raise SystemExit("soak: the server does not answer GET /api/projects/ (see its log above)")

    def start_redis(self, *, record: bool = True) -> None:
        self.redis = self._spawn(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        if record:
            self.note("redis_started", pid=self.redis.pid)

    def start_keeper(self) -> None:
        self.keeper = self._spawn(
            # niced as the README deploys it beside the web tier (and as bench/next_item.py runs it)
            ["nice", "-n", "10", sys.executable, "manage.py", "keep_queues", "--every", "1"],
            stdout=subprocess.DEVNULL,
        )

    def note(self, fault: str, **details) -> dict:
        event = {"at_s": round(time.time() - self.origin, 2), "fault": fault, **details}
        self.timeline.append(event)
        return event

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.server.pid}/task/{self.server.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def kill_worker(self) -> None:
        pids = self.worker_pids()
        if not pids:
            self.note("kill_worker", skipped="no worker found")
            return
        victim = pids[0]
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        event = self.note("kill_worker", pid=victim)
        recovered_at = None
        for _ in range(600):  # 30 s at most
            pids = self.worker_pids()
            if victim not in pids and len(pids) >= self.workers:
                recovered_at = time.time()
                event["replacement_pids"] = [p for p in pids if p != victim]
                break
            time.sleep(0.05)
        recovered_at = recovered_at or time.time()
        event["recovered_after_s"] = round(recovered_at - killed_at, 2)
        self.kill_windows.append((killed_at, recovered_at))

    def kill_keeper(self) -> None:
        victim = self.keeper.pid
        os.kill(victim, signal.SIGKILL)
        self.keeper.wait(timeout=10)
        self.note("kill_keeper", pid=victim)
        time.sleep(2)
        self.start_keeper()
        self.note("keeper_restarted", pid=self.keeper.pid)

    def terminate_db(self, database_url: str, database: str) -> None:
        import psycopg

        began = time.time()
        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [database],
            ).fetchall()
        event = self.note("terminate_db", connections=sum(1 for (done,) in rows if done))
        event["at_s"] = round(began - self.origin, 2)
        self.terminate_windows.append((began, time.time()))

    def stop_redis(self) -> None:
        self.redis.terminate()
        self.redis.wait(timeout=10)
        self.note("redis_stopped")

    def close(self) -> None:
        """SIGTERM each process group this run started, SIGKILL what is still there after 10 s."""
        alive = [p for p in (self.server, self.keeper, self.redis) if p is not None and p.poll() is None]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for process in alive:
                with contextlib.suppress(ProcessLookupError):  # gone meanwhile
                    os.killpg(process.pid, sig)
            for process in alive:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    continue
            alive = [p for p in alive if p.poll() is None]
            if not alive:
                return


# --- checks ------------------------------------------------------------------------------------


def drain_reactions(database_url: str, tables: dict) -> dict:
    """Reactions pending when the clients stop, how long keep_queues takes to deliver them, and
    those that failed (their ``last_error``)."""
    import psycopg

    table = tables["reaction"]
    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        backlog = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        while time.monotonic() - started < 60:
            if not conn.execute(f"SELECT count(*) FROM {table} WHERE attempts = 0").fetchone()[0]:  # noqa: S608
                break
            time.sleep(0.25)
        left, failing = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE attempts > 0) FROM {table}"  # noqa: S608
        ).fetchone()
        failing_errors = f"SELECT DISTINCT last_error FROM {table} WHERE attempts > 0 LIMIT 3"  # noqa: S608
        errors = [row[0][:200] for row in conn.execute(failing_errors)]
    return {
        "pending_at_stop": backlog,
        "left_after_drain": left,
        "failing": failing,
        "failing_errors": errors,
        "drain_s": round(time.monotonic() - started, 1),
    }


def sql_checks(database_url: str, tables: dict, acks: list) -> dict:
    """The data promises, checked in the database against what the clients were told."""
    import psycopg

    a, e, le = tables["annotation"], tables["entry"], tables["lease"]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "CREATE TEMP TABLE acked (annotation_id bigint, lease_id bigint, item_id bigint, "
            "user_id bigint, labels jsonb)"
        )
        with conn.cursor().copy("COPY acked FROM STDIN") as copy:
            for annotation_id, lease_id, item_id, user_id, labels, _sent in acks:
                copy.write_row((annotation_id, lease_id, item_id, user_id, json.dumps(labels)))
        lost = conn.execute(
            f"""SELECT count(*) FROM acked k LEFT JOIN {a} a ON a.id = k.annotation_id
                AND a.item_id = k.item_id AND a.annotator_id = k.user_id AND a.lease_id = k.lease_id
                AND a.labels = k.labels AND a.retracted_at IS NULL
                WHERE a.id IS NULL"""  # noqa: S608
        ).fetchone()[0]
        lease_open = conn.execute(
            f"SELECT count(*) FROM acked k LEFT JOIN {le} l ON l.id = k.lease_id "  # noqa: S608
            "WHERE l.completed_at IS NULL"
        ).fetchone()[0]
        over = conn.execute(
            f"""SELECT count(*) FROM {e} e LEFT JOIN (
                    SELECT l.entry_id, count(*) AS n FROM {a} a JOIN {le} l ON l.id = a.lease_id
                    WHERE a.retracted_at IS NULL GROUP BY l.entry_id) done ON done.entry_id = e.id
                WHERE coalesce(done.n, 0) > e.required_annotations
                   OR e.completed_annotations + e.leased_count > e.required_annotations"""  # noqa: S608
        ).fetchone()[0]
        twice = conn.execute(
            f"""SELECT count(*) FROM (SELECT item_id, annotator_id FROM {a}
                WHERE annotator_id IS NOT NULL AND retracted_at IS NULL
                GROUP BY item_id, annotator_id HAVING count(*) > 1) pairs"""  # noqa: S608
        ).fetchone()[0]
        drift = conn.execute(
            f"""SELECT count(*) FROM {e} e WHERE e.leased_count <> (SELECT count(*) FROM {le} l
                WHERE l.entry_id = e.id AND l.released_at IS NULL AND l.completed_at IS NULL)"""  # noqa: S608
        ).fetchone()[0]
        human = conn.execute(f"SELECT count(*) FROM {a} WHERE annotator_id IS NOT NULL").fetchone()[0]  # noqa: S608
    return {
        "acknowledged_submits": len(acks),
        "acknowledged_submits_lost": lost,
        "acknowledged_leases_not_completed": lease_open,
        "entries_over_overlap": over,
        "items_labelled_twice_by_one_annotator": twice,
        "entries_whose_leased_count_differs_from_live_leases": drift,
        "human_annotations_in_db": human,
    }


def summarise(records: list, bodies: list, fleet: Fleet, start: float, plan: dict) -> dict:
    """5xx and connection errors per phase, and the latency windows of the docstring."""
    events = sorted(fleet.timeline, key=lambda ev: ev["at_s"])

    def phase(ended: float) -> str:
        """The last event before a request ended: the fault it may have met."""
        at = ended - fleet.origin
        current = "before_faults"
        for event in events:
            if event["at_s"] <= at:
                current = event["fault"]
        return current

    def overlaps(windows: list, started: float, ms: float) -> bool:
        return any(started < hi and started + ms / 1000 > lo for lo, hi in windows)

    per_phase: dict[str, dict] = {}
    for group, name, started, ms, status in records:
        # A 204 on the healthy project says "nothing left" with thousands of items unlabelled.
        if status >= 500 or status < 0 or (status == 204 and group == "healthy"):
            kind = {204: "204", TIMEOUT: "timeout", CONNECTION_ERROR: "connection_error"}.get(status, "5xx")
            bucket = per_phase.setdefault(phase(started + ms / 1000), {})
            key = f"{kind} {group} {name}"
            bucket[key] = bucket.get(key, 0) + 1
    server_errors = [r for r in records if r[4] >= 500]
    outside = [r for r in server_errors if not overlaps(fleet.kill_windows, r[2], r[3])]
    at_terminate = [r for r in outside if overlaps(fleet.terminate_windows, r[2], r[3])]

    def latencies(group: str, lo: float, hi: float, call: str = "next") -> dict:
        return percentiles([r[3] for r in records if r[0] == group and r[1] == call and lo <= r[2] < hi])

    exhaust_at = plan["exhaust"]
    by_phase: dict[str, list] = {}
    for group, name, started, ms, _status in records:
        if group == "healthy" and name == "next":
            by_phase.setdefault(phase(started), []).append(ms)
    next_by_phase = {}
    for name, values in by_phase.items():
        figures = percentiles(values)
        next_by_phase[name] = [figures["p50_ms"], figures["p99_ms"], figures["count"]]
    return {
        "requests": len(records),
        "server_errors_5xx": len(server_errors),
        "server_errors_5xx_outside_killed_worker": len(outside),
        # Of those: requests whose database connection was terminated under them (in flight
        # while pg_terminate_backend ran), and all the others (a request that met no fault).
        "server_errors_5xx_in_flight_at_db_terminate": len(at_terminate),
        "server_errors_5xx_elsewhere": len(outside) - len(at_terminate),
        "connection_errors": sum(1 for r in records if r[4] == CONNECTION_ERROR),
        "client_timeouts": sum(1 for r in records if r[4] == TIMEOUT),
        "next_healthy_baseline": latencies("healthy", plan["baseline_from"], plan["kill_worker"]),
        "next_healthy_while_exhausted": latencies("healthy", exhaust_at + 2, plan["stop"]),
        "next_healthy_whole_run": latencies("healthy", start, plan["stop"]),
        "submit_healthy_whole_run": latencies("healthy", start, plan["stop"], "submit"),
        "next_exhausted": latencies("exhausted", exhaust_at, plan["stop"]),
        "next_healthy_p50_p99_by_phase": next_by_phase,
        "next_exhausted_204": sum(1 for r in records if r[0] == "exhausted" and r[4] == 204),
        "next_healthy_204": sum(1 for r in records if r[0] == "healthy" and r[1] == "next" and r[4] == 204),
        "errors_by_phase": per_phase,
        "bodies_5xx_sample": [
            {"at_s": round(b[2] - fleet.origin, 2), "group": b[0], "call": b[1], "status": b[3], "body": b[4]}
            for b in sorted(bodies, key=lambda b: b[2])[:5]
        ],
    }


# --- the run -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="How long the clients run.")
    parser.add_argument("--clients", type=int, default=64, help="Annotator clients in all.")
    parser.add_argument("--exhausted-clients", type=int, default=8, help="Of them, on the exhausted project.")
    parser.add_argument("--items", type=int, default=30_000, help="Items of the healthy project.")
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="Mean seconds between next and submit (0: saturate the server).",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
    parser.add_argument("--threads", type=int, default=16, help="Threads per gunicorn worker.")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args()
    if not 0 < args.exhausted_clients < args.clients:
        parser.error("--exhausted-clients must be between 1 and --clients - 1")
    # SIGTERM (a CI timeout, a kill) unwinds through the finally blocks: processes and database go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with scratch_database(postgres_url_or_exit("soak.py"), "soak", keep=args.keep) as (url, name):
        os.environ["DATABASE_URL"] = url
        print(json.dumps(soak(args, url, name)))


def soak(args: argparse.Namespace, database_url: str, database: str) -> dict:
    started = time.perf_counter()
    seeded = seed(args.items, args.clients - args.exhausted_clients, args.exhausted_clients)
    seed_s = time.perf_counter() - started
    redis_port, port = free_port(), free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "LOG_LEVEL": "ERROR",
        "DB_CONN_MAX_AGE": "600",
        "DB_POOL": "",
        "LABELHUB_REACTIONS": "deferred",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CHANNEL_PREFIX": f"soak-{uuid.uuid4().hex[:8]}",
    }
    fleet = Fleet(env, port, args.workers, args.threads, redis_port)
    try:
        fleet.start(seeded["clients"][0][1])
        start = time.time() + 3  # the client processes start meanwhile
        fleet.origin = start
        # Wall-clock moments of each step, shared with the client processes.
        plan = {key: start + fraction * args.seconds for key, fraction in SCHEDULE.items()}
        plan["stop"] = start + args.seconds
        groups = [seeded["clients"][i :: args.client_processes] for i in range(args.client_processes)]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(len(groups)) as pool:
            pending = pool.starmap_async(
                client_process, [(port, seeded["projects"], g, start, plan, args.think) for g in groups]
            )
            faults = [
                ("kill_worker", fleet.kill_worker),
                ("kill_keeper", fleet.kill_keeper),
                ("terminate_db", lambda: fleet.terminate_db(database_url, database)),
                ("stop_redis", fleet.stop_redis),
                ("start_redis", fleet.start_redis),
                ("exhaust", lambda: fleet.note("exhaust", project=seeded["projects"]["exhausted"])),
            ]
            time.sleep(max(0.0, start - time.time()))
            meters = {
                "server": lambda: tree_cpu_seconds(fleet.server.pid),
                "postgres": postgres_cpu_seconds,
                "machine_busy": machine_busy_seconds,
            }
            cpu_before = {name: meter() for name, meter in meters.items()}
            for key, inject in faults:
                time.sleep(max(0.0, plan[key] - time.time()))
                inject()
            time.sleep(max(0.0, plan["stop"] - time.time()))
            cpu = {name: round(meter() - cpu_before[name], 1) for name, meter in meters.items()}
            parts = pending.get(timeout=3 * CLIENT_TIMEOUT_S + 60)
        alive = {"server": fleet.server.poll() is None, "keep_queues": fleet.keeper.poll() is None}
        reactions = drain_reactions(database_url, seeded["tables"])
    finally:
        fleet.close()
    records = [r for p in parts for r in p["records"]]
    acks = [a for p in parts for a in p["acks"]]
    bodies = [b for p in parts for b in p["bodies_5xx"]]
    report = {
        "benchmark": "soak",
        "seconds": args.seconds,
        "clients": {"healthy": args.clients - args.exhausted_clients, "exhausted": args.exhausted_clients},
        "items": {
            "healthy": args.items,
            "healthy_gold": GOLD_ITEMS,
            "exhausted_all_labelled": EXHAUSTED_ITEMS,
        },
        "think_s": args.think,
        "server": f"gunicorn, {args.workers} workers x {args.threads} threads, 127.0.0.1; "
        "keep_queues --every 1; LABELHUB_REACTIONS=deferred; Redis on a free port",
        "seed_s": round(seed_s, 1),
        "cpu_count": os.cpu_count(),
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        # CPU seconds during the run: the gunicorn tree, every PostgreSQL process, and all cores
        # busy (clients included); busy_fraction near 1 means latency is the machine's, not a lock's.
        "cpu_seconds": cpu,
        "busy_fraction": round(cpu["machine_busy"] / (args.seconds * (os.cpu_count() or 1)), 2),
        "acknowledged_labels_differ_from_sent": sum(1 for a in acks if a[4] != a[5]),
        **sql_checks(database_url, seeded["tables"], acks),
        **summarise(records, bodies, fleet, start, plan),
        "reactions": reactions,
        "alive_when_clients_stopped": alive,
        "faults": fleet.timeline,
    }
    return report


if __name__ == "__main__":
    main()
