"""A small training-side client for labelhub snapshots: fetch by id, verify, cache, train.

Only the standard library's urllib for HTTP; torch is imported when a Dataset is first asked for.
Usage::

    from labelhub.client import LabelhubClient

    client = LabelhubClient("https://labelhub.example.org", token="…")
    snapshot = client.fetch_snapshot("3f2a9c…")          # full id or a unique prefix (>= 8)
    train = snapshot.dataset("train", transform=tokenize)  # torch.utils.data.Dataset
    ...
    client.register_model_run(snapshot.id, "bert-base-v3", metrics={"f1": 0.91},
                              artifact_uri="s3://models/bert-base-v3.pt")

A snapshot is downloaded once as JSONL (resuming a partial download with HTTP Range when the
server has the file cached), verified (every payload against its ``payload_sha256``, then the
content hash of the rows against the id), and kept under ``~/.cache/labelhub/snapshots/<id>/``
(``cache_dir=`` or ``LABELHUB_CACHE`` to move it) with a seal: the sha256 of the two files as
verified. A cached snapshot is never fetched again (snapshots are immutable), but every open
checks the seal, so a cache edited or damaged since is refused, not trained on.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelhub.projects.content import payload_sha256
from labelhub.snapshots.canonical import ContentHasher

CHUNK = 1024 * 1024
MIN_PREFIX = 8  # the server's rule too (snapshots.selectors.snapshot_for)
SEAL = "seal.json"


class LabelhubError(Exception):
    """The server refused a request; ``status``, ``detail`` and ``field`` say why.

    The API answers every error as ``{"code", "detail", "field", "errors": [...]}``; ``code`` and
    ``errors`` are kept as sent. A body that is not of that shape (a proxy's error page) becomes
    ``detail`` as text.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        field: str | None = None,
        errors: list[dict] | None = None,
    ) -> None:
        where = f" ({field})" if field and field != "non_field_errors" else ""
        super().__init__(f"HTTP {status}{where}: {detail}")
        self.status = status
        self.detail = detail
        self.code = code
        self.field = field
        self.errors = errors or []

    @classmethod
    def from_response(cls, status: int, body: bytes) -> LabelhubError:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or "detail" not in parsed:
            return cls(status, body.decode(errors="replace")[:500])
        return cls(
            status,
            str(parsed["detail"]),
            code=parsed.get("code"),
            field=parsed.get("field"),
            errors=parsed.get("errors") if isinstance(parsed.get("errors"), list) else None,
        )


class SnapshotVerificationError(Exception):
    """Rows (downloaded or cached) that are not the snapshot asked for: a payload that does not
    hash to its ``payload_sha256``, rows that do not hash to the id, or a cache changed since."""


def _default_cache_dir() -> Path:
    return Path(os.environ.get("LABELHUB_CACHE") or Path.home() / ".cache" / "labelhub")


def verify_rows(path: Path, manifest: dict) -> int:
    """Recompute the snapshot's content hash from a JSONL file; return the row count or raise."""
    hasher = ContentHasher(manifest["project"]["id"])
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            row = json.loads(line)
            # The id hashes payload_sha256, not the payload: check the payload against it, so the
            # id covers the text or image a training run reads.
            if payload_sha256(row["payload"]) != row["payload_sha256"]:
                raise SnapshotVerificationError(
                    f"line {number} of {path} (item {row['external_id']!r}): the payload does not "
                    f"hash to its payload_sha256 {row['payload_sha256'][:12]}…; the file was changed"
                )
            hasher.add(
                row["external_id"],
                row["payload_sha256"],
                row["labels"],
                row["confidence"],
                row["method"],
                row["guideline_versions"],
                row["annotator_count"],
                row["split"],
            )
    if hasher.hexdigest() != manifest["snapshot_id"]:
        raise SnapshotVerificationError(
            f"rows in {path} hash to {hasher.hexdigest()}, not to snapshot {manifest['snapshot_id']}"
        )
    if hasher.count != manifest["item_count"]:
        raise SnapshotVerificationError(f"{hasher.count} rows, the manifest says {manifest['item_count']}")
    return hasher.count


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _write_seal(path: Path) -> None:
    """Record the sha256 of the two files just verified; :func:`open_cached` checks them."""
    seal = {name: _file_sha256(path / name) for name in ("items.jsonl", "manifest.json")}
    (path / SEAL).write_text(json.dumps(seal, indent=2))


def open_cached(path: Path) -> LocalSnapshot:
    """A cached snapshot, checked against its seal (a cache from before seals is verified in full
    and sealed). Raises :class:`SnapshotVerificationError` naming what changed."""
    manifest = json.loads((path / "manifest.json").read_text())
    if manifest.get("snapshot_id") != path.name:
        raise SnapshotVerificationError(
            f"the cached manifest in {path} is of snapshot {manifest.get('snapshot_id')!r}, not {path.name}; "
            "delete the folder to download it again"
        )
    seal_path = path / SEAL
    if not seal_path.exists():
        verify_rows(path / "items.jsonl", manifest)
        _write_seal(path)
        return LocalSnapshot(path, manifest)
    seal = json.loads(seal_path.read_text())
    for name in ("manifest.json", "items.jsonl"):
        actual = _file_sha256(path / name)
        if actual != seal.get(name):
            raise SnapshotVerificationError(
                f"the cached {name} of snapshot {path.name[:12]} in {path} was changed since it was "
                f"verified (sha256 {actual[:12]}…, sealed {str(seal.get(name))[:12]}…); delete the "
                "folder to download it again"
            )
    return LocalSnapshot(path, manifest)


@dataclass(frozen=True)
class LocalSnapshot:
    """A verified snapshot on local disk: ``manifest.json`` and ``items.jsonl``."""

    path: Path
    manifest: dict

    @property
    def id(self) -> str:
        return self.manifest["snapshot_id"]

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["class_names"])

    def rows(self, split: str | None = None) -> Iterator[dict]:
        with (self.path / "items.jsonl").open("rb") as handle:
            for line in handle:
                row = json.loads(line)
                if split is None or row["split"] == split:
                    yield row

    def dataset(
        self, split: str, transform: Callable | None = None, target_transform: Callable | None = None
    ):
        """A ``torch.utils.data.Dataset`` of (input, target) for one split.

        input: the item's text for text projects, its image reference for image projects, the whole
        payload otherwise, passed through ``transform``. target: a 0-d long tensor with the class
        index (single-label projects) or a float multi-hot vector over ``class_names`` (multi-label).
        """
        if split not in ("train", "val", "test"):
            raise ValueError(f"split: {split!r} is not one of train, val, test")
        return _dataset_class()(self, split, transform, target_transform)


_DATASET_CLASS = None


def _dataset_class():
    """Build the Dataset class on first use, so importing this module does not import torch."""
    global _DATASET_CLASS
    if _DATASET_CLASS is not None:
        return _DATASET_CLASS
    # heavy: torch loads on the first Dataset, never on import of the client
    import torch
    from torch.utils.data import Dataset

    class SnapshotDataset(Dataset):
        def __init__(self, snapshot: LocalSnapshot, split: str, transform, target_transform) -> None:
            self.snapshot = snapshot
            self.split = split
            self.transform = transform
            self.target_transform = target_transform
            self.class_names = snapshot.class_names
            self.multi_label = bool(snapshot.manifest["project"]["multi_label"])
            modality = snapshot.manifest["project"]["modality"]
            index = {name: i for i, name in enumerate(self.class_names)}
            self.inputs: list[Any] = []
            targets: list[list[int]] = []
            for row in snapshot.rows(split):
                payload = row["payload"]
                self.inputs.append(payload.get(modality, payload) if isinstance(payload, dict) else payload)
                targets.append([index[name] for name in row["labels"]])
            self.external_ids = [row["external_id"] for row in snapshot.rows(split)]
            if self.multi_label:
                self.targets = torch.zeros((len(targets), len(self.class_names)), dtype=torch.float32)
                for i, indices in enumerate(targets):
                    self.targets[i, indices] = 1.0
            else:
                # Single-label projects resolve to exactly one class; an empty label is -100, the
                # index torch's cross-entropy ignores.
                self.targets = torch.tensor([t[0] if t else -100 for t in targets], dtype=torch.long)

        def __len__(self) -> int:
            return len(self.inputs)

        def __getitem__(self, i: int):
            x = self.inputs[i]
            y = self.targets[i]
            if self.transform is not None:
                x = self.transform(x)
            if self.target_transform is not None:
                y = self.target_transform(y)
            return x, y

    _DATASET_CLASS = SnapshotDataset
    return SnapshotDataset


class LabelhubClient:
    auth_scheme = "Token"

    def __init__(
        self, base_url: str, token: str, *, cache_dir: str | Path | None = None, timeout: float = 60
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.token = token
        self.cache_dir = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
        self.timeout = timeout

    # --- HTTP -----------------------------------------------------------------------------------

    def _open(self, path: str, *, method: str = "GET", body: dict | None = None, headers: dict | None = None):
        url = urllib.parse.urljoin(self.base_url, path.lstrip("/"))
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: {self.base_url!r} is not an http(s) URL")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - scheme checked above
        request.add_header("Authorization", f"{self.auth_scheme} {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310
        except urllib.error.HTTPError as error:
            raise LabelhubError.from_response(error.code, error.read()) from None

    def _json(self, path: str, **kwargs) -> Any:
        with self._open(path, **kwargs) as response:
            return json.loads(response.read())

    # --- snapshots ------------------------------------------------------------------------------

    def manifest(self, snapshot_id: str) -> dict:
        return self._json(f"/api/snapshots/{snapshot_id}/manifest/")

    def fetch_snapshot(self, snapshot_id: str) -> LocalSnapshot:
        """The snapshot on local disk, verified; downloaded (or resumed) only when not cached.

        ``snapshot_id`` is the 64-character id or a unique prefix of at least 8 characters
        (``ValueError`` otherwise). Raises :class:`SnapshotVerificationError` when the download or
        the cached copy is not the snapshot (the cached copy: delete its folder to fetch again).
        """
        snapshot_id = snapshot_id.strip().lower()
        if len(snapshot_id) < MIN_PREFIX:
            raise ValueError(
                f"snapshot_id: {snapshot_id!r} is too short; give the 64-character id or a unique "
                f"prefix of at least {MIN_PREFIX} characters"
            )
        cached = self._cached(snapshot_id)
        if cached is not None:
            return cached
        manifest = self.manifest(snapshot_id)
        full_id = manifest["snapshot_id"]
        target = self.cache_dir / "snapshots" / full_id
        if (target / "items.jsonl").exists() and (target / "manifest.json").exists():
            return open_cached(target)
        target.mkdir(parents=True, exist_ok=True)
        partial = target / "items.jsonl.part"
        checksum = self._download(f"/api/snapshots/{full_id}/export/jsonl/", partial, full_id)
        if checksum is not None and _file_sha256(partial) != checksum:
            partial.unlink()
            raise SnapshotVerificationError(f"download of {full_id} does not match its X-Checksum-SHA256")
        try:
            verify_rows(partial, manifest)
        except SnapshotVerificationError:
            partial.unlink()
            raise
        (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
        partial.replace(target / "items.jsonl")
        _write_seal(target)
        return LocalSnapshot(target, manifest)

    def _cached(self, snapshot_id: str) -> LocalSnapshot | None:
        root = self.cache_dir / "snapshots"
        if len(snapshot_id) == 64:
            candidates = [root / snapshot_id]
        elif root.exists():
            candidates = [p for p in root.iterdir() if p.name.startswith(snapshot_id)]
        else:
            candidates = []
        if len(candidates) != 1:
            return None  # none, or an ambiguous prefix: the server says which (or that it is ambiguous)
        path = candidates[0]
        if (path / "items.jsonl").exists() and (path / "manifest.json").exists():
            return open_cached(path)
        return None

    def _download(self, path: str, partial: Path, snapshot_id: str) -> str | None:
        """Download into ``partial``, resuming from its size; return the server's checksum if sent."""
        offset = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={offset}-", "If-Range": f'"{snapshot_id}"'} if offset else {}
        try:
            response = self._open(path, headers=headers)
        except LabelhubError as error:
            if error.status != 416:
                raise
            partial.unlink()  # the partial copy is longer than the file: start again
            response = self._open(path)
            offset = 0
        with response:
            mode = "ab" if offset and response.status == 206 else "wb"
            with partial.open(mode) as handle:
                shutil.copyfileobj(response, handle, CHUNK)
            return response.headers.get("X-Checksum-SHA256")

    def dataset(self, snapshot_id: str, split: str, transform: Callable | None = None, **kwargs):
        """Shortcut: fetch (or reuse) the snapshot and return one split as a torch Dataset."""
        return self.fetch_snapshot(snapshot_id).dataset(split, transform, **kwargs)

    # --- lineage --------------------------------------------------------------------------------

    def register_model_run(
        self, snapshot_id: str, name: str, *, metrics: dict | None = None, artifact_uri: str = ""
    ) -> dict:
        """Record a model trained on the snapshot; returns the model run (with its id)."""
        return self._json(
            f"/api/snapshots/{snapshot_id}/model-runs/",
            method="POST",
            body={"name": name, "metrics": metrics or {}, "artifact_uri": artifact_uri},
        )


#: HTTP answers worth retrying: the server or a proxy was busy or restarting. Every other 4xx is the
#: batch's own fault (a bad record) and would fail again.
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class CaptureClient(LabelhubClient):
    """Sends what a deployed model sees and predicts to its deployment, in batches, with retries.

    Authenticates with the deployment's capture token (``Authorization: Deployment <token>``),
    which may send captures and outcomes and nothing else. :meth:`capture` buffers a record and
    sends a batch every ``batch_size`` records (and at exit); :meth:`send` sends records now.
    Each record carries an idempotency ``key``, so a batch retried after a timeout whose first
    attempt did arrive is not stored twice. Example, wrapping a predict function::

        capture = CaptureClient("https://labelhub.example.org", project=3, deployment=7, token=TOKEN)

        def predict(request_id, text):
            probs = model(text)
            capture.capture(request_id, {"text": text}, CLASSES[probs.argmax()], probabilities=probs.tolist())
            return probs
    """

    auth_scheme = "Deployment"
    MAX_BATCH = 10_000

    def __init__(
        self,
        base_url: str,
        *,
        project: int,
        deployment: int,
        token: str,
        batch_size: int = 1000,
        retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 60,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(base_url, token, timeout=timeout)
        self.path = f"/api/projects/{project}/deployments/{deployment}/"
        self.batch_size = max(1, min(batch_size, self.MAX_BATCH))
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self._buffer: list[dict] = []
        self._lock = threading.Lock()
        atexit.register(self.flush)

    def capture(self, key: str, input: dict, prediction: str | list[str], **fields: Any) -> None:
        """Buffer one record (``probabilities``, ``logits``, ``embedding``, ``model_version``,
        ``timestamp``, ``source``, ``outcome`` as keywords); sends a batch when the buffer is full."""
        with self._lock:
            self._buffer.append({"key": key, "input": input, "prediction": prediction, **fields})
            full = self._buffer if len(self._buffer) >= self.batch_size else None
            if full is not None:
                self._buffer = []
        if full:
            self.send(full)

    def flush(self) -> dict | None:
        """Send whatever is buffered now."""
        with self._lock:
            pending, self._buffer = self._buffer, []
        return self.send(pending) if pending else None

    def send(self, records: list[dict]) -> dict:
        """POST ``records`` in batches of at most ``MAX_BATCH``; sums the answers ``{received, created, duplicates}``."""
        totals = {"received": 0, "created": 0, "duplicates": 0}
        for start in range(0, len(records), self.MAX_BATCH):
            answer = self._post_with_retries("captures/", records[start : start + self.MAX_BATCH])
            for name in totals:
                totals[name] += answer.get(name, 0)
        return totals

    def outcomes(self, records: list[dict]) -> dict:
        """The true labels of earlier captures, once known: ``[{"key": …, "outcome": "dog"}]``."""
        return self._post_with_retries("outcomes/", records)

    def _post_with_retries(self, endpoint: str, records: list[dict]) -> dict:
        for attempt in range(self.retries + 1):
            try:
                return self._json(self.path + endpoint, method="POST", body={"records": records})
            except LabelhubError as error:
                if error.status not in RETRY_STATUSES or attempt == self.retries:
                    raise
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == self.retries:
                    raise
            self.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")  # the loop returns or raises
