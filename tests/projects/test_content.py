"""An item's content hash, and the canonical payload a capture stores beside it."""

import json

import pytest

from labelhub.projects.content import canonical_payload, payload_sha256


@pytest.mark.parametrize(
    "payload",
    [
        {"text": "parcel arrived broken"},
        {"image": "https://example.org/a.png", "text": "both"},
        {"text": "ünïcode", "source": "web"},  # metadata: not hashed, still stored
        {"note": "no content key: hashed whole"},
        {},
    ],
)
def test_the_canonical_payload_is_the_payload_and_its_hash_the_content_hash(payload):
    encoded, digest = canonical_payload(payload)
    assert json.loads(encoded) == payload
    assert digest == payload_sha256(payload)


def test_metadata_does_not_change_the_hash_of_a_canonical_payload():
    assert canonical_payload({"text": "a", "source": "web"})[1] == canonical_payload({"text": "a"})[1]
    assert canonical_payload({"b": 1, "a": 2})[0] == '{"a":2,"b":1}'
