"""Download delivery: ETag, caching after the first complete stream, ranges and checksums."""

from __future__ import annotations

import base64
import hashlib

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

from labelhub.snapshots import selectors, services
from labelhub.snapshots.downloads import parse_range

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot(project, labelled):
    return services.cut_snapshot(project)[0]


def url(snapshot, fmt="jsonl"):
    return f"/api/snapshots/{snapshot.content_hash}/export/{fmt}/"


def test_first_download_streams_then_the_cache_serves_length_and_checksum(
    client, manager, snapshot, export_cache
):
    client.force_login(manager)
    first = client.get(url(snapshot))
    body = b"".join(first.streaming_content)
    assert first["ETag"] == f'"{snapshot.content_hash}"'
    assert not first.has_header("Content-Length")
    second = client.get(url(snapshot))
    assert b"".join(second.streaming_content) == body
    digest = hashlib.sha256(body).hexdigest()
    assert second["Content-Length"] == str(len(body))
    assert second["X-Checksum-SHA256"] == digest
    assert second["Digest"] == "sha-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert second["Accept-Ranges"] == "bytes"
    manifest = client.get(f"/api/snapshots/{snapshot.content_hash}/manifest/").json()
    assert manifest["exports"]["jsonl"] == {
        **manifest["exports"]["jsonl"],
        "sha256": digest,
        "size": len(body),
    }


def test_range_request_resumes_a_download(client, manager, snapshot):
    client.force_login(manager)
    body = b"".join(client.get(url(snapshot)).streaming_content)
    partial = client.get(url(snapshot), headers={"Range": "bytes=100-"})
    assert partial.status_code == 206
    assert partial["Content-Range"] == f"bytes 100-{len(body) - 1}/{len(body)}"
    assert b"".join(partial.streaming_content) == body[100:]
    tail = client.get(url(snapshot), headers={"Range": "bytes=-10"})
    assert b"".join(tail.streaming_content) == body[-10:]


def test_unsatisfiable_range_is_416(client, manager, snapshot):
    client.force_login(manager)
    body = b"".join(client.get(url(snapshot)).streaming_content)
    response = client.get(url(snapshot), headers={"Range": f"bytes={len(body) + 5}-"})
    assert response.status_code == 416


def test_if_none_match_the_hash_is_304(client, manager, snapshot):
    client.force_login(manager)
    response = client.get(url(snapshot), headers={"If-None-Match": f'"{snapshot.content_hash}"'})
    assert response.status_code == 304


def test_aborted_stream_leaves_no_cache(client, manager, snapshot, export_cache):
    client.force_login(manager)
    response = client.get(url(snapshot, "csv"))
    next(iter(response.streaming_content))
    response.close()
    assert not list(export_cache.glob("*.csv"))


def test_unknown_format_is_404(client, manager, snapshot):
    client.force_login(manager)
    assert client.get(url(snapshot, "xlsx")).status_code == 404


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=-20", (80, 99)),
        ("bytes=90-200", (90, 99)),
        ("bytes=100-", False),
        ("items=1-2", None),
        ("", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 100) == expected


@pytest.mark.django_db(transaction=True)
async def test_asgi_streams_chunk_by_chunk_with_the_same_bytes(project, labelled, manager, monkeypatch):
    """Under ASGI the export is an async iterator pulled chunk by chunk (Django would otherwise
    list() a sync iterator, holding the whole export in memory)."""
    monkeypatch.setattr(selectors, "FETCH_SIZE", 3)
    snapshot, _ = await sync_to_async(services.cut_snapshot)(project)
    client = AsyncClient()
    await sync_to_async(client.force_login)(manager)
    response = await client.get(url(snapshot, "csv"))
    assert response.is_async
    chunks = [chunk async for chunk in response.streaming_content]
    assert len(chunks) >= 4  # header + 11 rows in chunks of 3
    sync_client = Client()
    await sync_to_async(sync_client.force_login)(manager)
    cached = await sync_to_async(sync_client.get)(url(snapshot, "csv"))
    assert b"".join(chunks) == b"".join(cached.streaming_content)
    assert cached["X-Checksum-SHA256"] == hashlib.sha256(b"".join(chunks)).hexdigest()
    await sync_to_async(connections.close_all)()  # the executor thread's connection, before teardown


@pytest.mark.parametrize("header", ['W/"{hash}"', "*", '"other", W/"{hash}"'])
def test_if_none_match_weak_or_any_is_304(client, manager, snapshot, header):
    client.force_login(manager)
    response = client.get(url(snapshot), headers={"If-None-Match": header.format(hash=snapshot.content_hash)})
    assert response.status_code == 304


def test_if_none_match_another_tag_downloads(client, manager, snapshot):
    client.force_login(manager)
    response = client.get(url(snapshot), headers={"If-None-Match": 'W/"0123", "abc"'})
    assert response.status_code == 200
