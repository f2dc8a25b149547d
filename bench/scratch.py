"""What the benchmarks share: a scratch PostgreSQL database, a free loopback port, a process's CPU time.

Imported by the scripts in this folder (run as ``python bench/<name>.py``, so this folder is on
``sys.path``); not part of the application.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def postgres_url_or_exit(script: str) -> str:
    """``DATABASE_URL`` when it names PostgreSQL; the benchmarks measure PostgreSQL paths."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(f"bench/{script} needs DATABASE_URL=postgres://… (it creates a scratch database there)")
    return url


@contextlib.contextmanager
def scratch_database(database_url: str, suffix: str, *, keep: bool = False) -> Iterator[tuple[str, str]]:
    """A fresh database ``<name>_bench_<suffix>`` beside ``database_url``; yields (its URL, its name).

    Dropped on the way out (``WITH (FORCE)``, so a straggling server connection cannot keep it)
    unless ``keep``.
    """
    import psycopg

    parts = urlsplit(database_url)
    name = f"{parts.path.lstrip('/') or 'labelhub'}_bench_{suffix}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))

    def run(*statements: str) -> None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            for statement in statements:
                admin.execute(statement)

    run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}")), name
    finally:
        if not keep:
            run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu_seconds(pid: int) -> float | None:
    """user + system CPU time of a process on this machine, from /proc; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # proc(5) fields 14, 15
