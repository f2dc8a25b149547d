"""An item's content hash: pure Python with no Django import, shared by the importer (an item's
``content_hash``), snapshots (a row's ``payload_sha256``) and the training client, which checks
every payload it reads against it."""

from __future__ import annotations

import hashlib
import json

# Payload keys that are an item's content; everything else is metadata and not hashed.
CONTENT_KEYS = ("text", "image")
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def payload_sha256(payload: dict) -> str:
    """sha256 of an item's content (``text`` / ``image``) as canonical JSON: the item's
    ``content_hash`` and a snapshot row's ``payload_sha256``, so the snapshot id (which hashes the
    rows) covers every payload a training run reads.

    Metadata is left out on purpose: the same sentence imported twice with a different ``source``
    column is still the same thing to label. A payload without a content key hashes whole.
    """
    content = {key: payload[key] for key in CONTENT_KEYS if key in payload} or payload
    return hashlib.sha256(_CANONICAL_JSON.encode(content).encode("utf-8")).hexdigest()


def canonical_payload(payload: dict) -> tuple[str, str]:
    """``(canonical JSON of the whole payload, its payload_sha256)``: one encoding serves both when
    the payload is all content (or has none), the common case of a capture's ``{"text": …}``."""
    encoded = _CANONICAL_JSON.encode(payload)
    if all(key in CONTENT_KEYS for key in payload) or not any(key in payload for key in CONTENT_KEYS):
        return encoded, hashlib.sha256(encoded.encode("utf-8")).hexdigest()
    return encoded, payload_sha256(payload)
