"""HTTP delivery of snapshot exports: streaming from the database on the first download, then the
cached file with Content-Length, byte ranges (resume) and a checksum header.

Headers, documented for clients:
- ``ETag: "<snapshot content hash>"`` on every download (the data behind every format);
  ``If-None-Match`` with it (also weak, ``W/"…"``, or ``*``) answers 304.
- Cached files add ``Content-Length``, ``Accept-Ranges: bytes``, ``X-Checksum-SHA256: <hex>`` and
  ``Digest: sha-256=<base64>`` (of the whole file, also for a range), and honour
  ``Range: bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` with 206 (416 when unsatisfiable).
- The first download streams with ``Transfer-Encoding: chunked``; the manifest lists each cached
  file's size and sha256 once it exists.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Iterable, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from labelhub.snapshots.exports import (
    WEAK_FORMATS,
    CachedExport,
    cached_export,
    format_spec,
    stream_and_cache,
)
from labelhub.snapshots.models import Snapshot

FILE_CHUNK = 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_END = object()


async def _async_chunks(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """Pull a sync generator one chunk at a time on the request's thread: Django's ASGI handler
    would otherwise ``list()`` a sync iterator (the whole export in memory) before sending."""
    iterator = iter(chunks)
    pull = sync_to_async(next, thread_sensitive=True)
    try:
        while (chunk := await pull(iterator, _END)) is not _END:
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def _streaming(request: HttpRequest, chunks: Iterable[bytes], **kwargs) -> StreamingHttpResponse:
    if isinstance(request, ASGIRequest):
        return StreamingHttpResponse(_async_chunks(chunks), **kwargs)
    return StreamingHttpResponse(chunks, **kwargs)


def _file_slice(path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(start)
        while length > 0:
            data = handle.read(min(FILE_CHUNK, length))
            if not data:
                return
            length -= len(data)
            yield data


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """(start, end inclusive) for a single-range header; None when absent or not a single byte
    range (serve the whole file); False when unsatisfiable."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            return False
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110's weak comparison for ``If-None-Match``: ``*`` matches, and ``W/"x"`` matches
    ``"x"`` (the bytes behind a snapshot's tag never change, so a weak tag is as good)."""
    tags = [t.strip() for t in if_none_match.split(",") if t.strip()]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


def export_response(request: HttpRequest, snapshot: Snapshot, fmt: str) -> HttpResponse:
    spec = format_spec(fmt)
    # The export with weak labels is other bytes of the same snapshot: its own tag.
    etag = f'"{snapshot.content_hash}-weak"' if fmt in WEAK_FORMATS else f'"{snapshot.content_hash}"'
    filename = f"snapshot-{snapshot.short_id}.{spec.extension}"
    if etag_matches(request.headers.get("If-None-Match", ""), etag):
        response = HttpResponse(status=304)
        response["ETag"] = etag
        return response
    cached = cached_export(snapshot, fmt)
    if cached is None:
        response = _streaming(request, stream_and_cache(snapshot, fmt), content_type=spec.media_type)
    else:
        response = _cached_response(request, cached, spec.media_type, etag)
    response["ETag"] = etag
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Snapshot-Id"] = snapshot.content_hash
    response["Link"] = '<../../manifest/>; rel="describedby"'
    return response


def _cached_response(request: HttpRequest, cached: CachedExport, media_type: str, etag: str) -> HttpResponse:
    wanted = parse_range(request.headers.get("Range", ""), cached.size)
    if_range = request.headers.get("If-Range")
    if wanted and if_range and if_range.strip() not in (etag, f'"{cached.sha256}"'):
        # The client's partial copy may be of something else: send the whole file.
        wanted = None
    if wanted is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{cached.size}"
        return response
    start, end = wanted if wanted else (0, cached.size - 1)
    length = end - start + 1 if cached.size else 0
    response = _streaming(request, _file_slice(cached.path, start, length), content_type=media_type)
    if wanted:
        response.status_code = 206
        response["Content-Range"] = f"bytes {start}-{end}/{cached.size}"
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["X-Checksum-SHA256"] = cached.sha256
    response["Digest"] = "sha-256=" + base64.b64encode(bytes.fromhex(cached.sha256)).decode()
    return response
