"""Real labelled data sets that ship offline, as (external id, payload, label) records.

Used by ``manage.py demo_data`` to build the demo projects and by the active-learning simulation
to replay a run against known answers. Labels are yielded separately from payloads on purpose:
they go to ``GroundTruth``, never into anything an annotator is shown.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WORDNET_DIR = Path("/usr/share/wordnet")  # where Debian's wordnet-base puts the database
WORDNET_PARTS = ("noun", "verb", "adj", "adv")
DIGIT_SCALE = 8  # 8×8 px → 64×64 px, big enough to read on a labeling page

# WordNet's lexicographer files, indexed by the two-digit ``lex_filenum`` of each synset
# (wndb(5WN) and lexnames(5WN)).
LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class LabelledRecord:
    external_id: str
    payload: dict
    label: str


class DatasetMissing(RuntimeError):
    """The data set's files are not installed; the message says how to install them."""


def digit_png_data_url(pixels, scale: int = DIGIT_SCALE) -> str:
    """An 8×8 digit (values 0–16, ink high) as a PNG data URL: dark ink on white, upscaled."""
    from PIL import Image  # heavy: Pillow only when the demo draws digits

    grey = (255 - np.asarray(pixels, dtype=np.float64).reshape(8, 8) * (255 / 16)).clip(0, 255)
    image = Image.fromarray(grey.astype(np.uint8), mode="L").resize((8 * scale, 8 * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def load_digits_records(limit: int | None = None) -> Iterator[LabelledRecord]:
    """scikit-learn's ``load_digits``: 1,797 handwritten digits (bundled with the package)."""
    from sklearn.datasets import load_digits  # heavy: scikit-learn only when the demo loads digits

    digits = load_digits()
    count = len(digits.target) if limit is None else min(limit, len(digits.target))
    for index in range(count):
        yield LabelledRecord(
            external_id=f"digit-{index:04d}",
            payload={"image": digit_png_data_url(digits.data[index]), "dataset_index": index},
            label=str(int(digits.target[index])),
        )


def wordnet_available(directory: Path = WORDNET_DIR) -> bool:
    return all((directory / f"data.{part}").is_file() for part in WORDNET_PARTS)


def parse_wordnet_data_line(line: str, part: str) -> LabelledRecord | None:
    """One synset line of ``data.<part>`` → record, or ``None`` for the licence header.

    Layout (wndb(5WN)): ``offset lex_filenum ss_type w_cnt word lex_id [word lex_id…] … | gloss``;
    ``w_cnt`` is hexadecimal.
    """
    if line.startswith("  ") or "|" not in line:
        return None
    head, gloss = line.split("|", 1)
    fields = head.split()
    offset, lex_filenum, word_count = fields[0], int(fields[1]), int(fields[3], 16)
    words = [w.replace("_", " ") for w in fields[4 : 4 + 2 * word_count : 2]]
    return LabelledRecord(
        external_id=f"wn-{part}-{offset}",
        payload={"text": gloss.strip(), "words": words, "pos": part},
        label=LEXNAMES[lex_filenum],
    )


def wordnet_gloss_records(
    directory: Path = WORDNET_DIR, limit: int | None = None
) -> Iterator[LabelledRecord]:
    """WordNet 3.0 glosses labelled by lexicographer file (about 117,000 synsets, 45 classes).

    With ``limit``, takes an even share from each part of speech so small runs keep every kind.
    """
    if not wordnet_available(directory):
        raise DatasetMissing(
            f"WordNet data files not found in {directory}: install Debian's wordnet-base "
            "(`make system-deps`, or `sudo apt-get install wordnet-base`)"
        )
    per_part = None if limit is None else max(1, limit // len(WORDNET_PARTS))
    for part in WORDNET_PARTS:
        taken = 0
        with open(directory / f"data.{part}", encoding="utf-8", errors="replace") as data:
            for line in data:
                record = parse_wordnet_data_line(line, part)
                if record is None:
                    continue
                yield record
                taken += 1
                if per_part is not None and taken >= per_part:
                    break


# An imbalanced text benchmark: nine noun lexicographer classes at their natural frequencies (the
# rarest, noun.time, is 1.9 % of them), as real labelling projects are.
WORDNET_IMBALANCED_CLASSES = (
    "noun.artifact",
    "noun.person",
    "noun.plant",
    "noun.animal",
    "noun.act",
    "noun.location",
    "noun.food",
    "noun.body",
    "noun.time",
)
WORDNET_IMBALANCED_SIZE = 4000


def wordnet_imbalanced_records(
    directory: Path = WORDNET_DIR,
    size: int = WORDNET_IMBALANCED_SIZE,
    classes: tuple[str, ...] = WORDNET_IMBALANCED_CLASSES,
    seed: int = 0,
) -> list[LabelledRecord]:
    """``size`` noun glosses drawn uniformly from ``classes``, so each class keeps its natural share.

    The draw is seeded and returned in file order: the same arguments give the same subset.
    """
    if not wordnet_available(directory):
        raise DatasetMissing(
            f"WordNet data files not found in {directory}: install Debian's wordnet-base "
            "(`make system-deps`, or `sudo apt-get install wordnet-base`)"
        )
    wanted = set(classes)
    with open(directory / "data.noun", encoding="utf-8", errors="replace") as data:
        parsed = (parse_wordnet_data_line(line, "noun") for line in data)
        records = [r for r in parsed if r is not None and r.label in wanted]
    if size >= len(records):
        return records
    keep = np.sort(np.random.default_rng(seed).choice(len(records), size=size, replace=False))
    return [records[i] for i in keep]
