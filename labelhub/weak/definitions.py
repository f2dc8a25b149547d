"""What a valid labeling-function definition is, and the compiled form that votes on a batch.

No user code runs: keywords become an escaped literal alternation, a regular expression is
compiled by the third-party ``regex`` module with a length cap and evaluated with a per-item time
limit (an item it gives up on counts as an abstention), a metadata rule compares one payload field
with given values. Model-dependent kinds (``similar``, ``model``) are validated here and evaluated
by callables the caller passes in (the active-learning worker owns embeddings and heads).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import regex

from labelhub.projects.labels import LabelSchema
from labelhub.weak.errors import InvalidLabelingFunction
from labelhub.weak.models import LabelingFunction

Kind = LabelingFunction.Kind
ABSTAIN = -1
MAX_KEYWORDS = 200
MAX_KEYWORD_LENGTH = 100
MAX_PATTERN_LENGTH = 300
REGEX_TIMEOUT_SECONDS = 0.02  # per item: a pattern that backtracks longer on one text abstains there
MAX_EXAMPLES = 100
POOL_KINDS = frozenset({Kind.SIMILAR, Kind.MODEL})
# Probes a pattern must finish on within the time limit at validation: the classic catastrophic
# backtracking shapes, so `(a+)+$` is refused at once instead of abstaining on every item.
_PROBES = ("a" * 2000 + "!", "ab" * 1000 + "!", " " * 2000 + "x", "x" * 2000 + "\n" + "y" * 2000)
_WORD_EDGES = (r"(?<!\w)", r"(?!\w)")


@dataclass
class Batch:
    """Items of one pool batch in id order: ids, payloads, and their texts computed once."""

    item_ids: np.ndarray
    payloads: Sequence[dict]
    _texts: list[str] | None = field(default=None, repr=False)
    _joined: tuple[str, np.ndarray] | None = field(default=None, repr=False)

    @property
    def texts(self) -> list[str]:
        if self._texts is None:
            self._texts = [text_of(payload) for payload in self.payloads]
        return self._texts

    def joined(self) -> tuple[str, np.ndarray]:
        """All texts joined by NUL (never inside a keyword) and each text's start offset, so one
        C-level scan finds every keyword match of the batch."""
        if self._joined is None:
            texts = self.texts
            lengths = np.fromiter((len(t) + 1 for t in texts), np.int64, len(texts))
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(texts) else lengths
            self._joined = ("\x00".join(texts), starts)
        return self._joined


def text_of(payload: dict) -> str:
    text = payload.get("text") if isinstance(payload, dict) else None
    return text.replace("\x00", " ") if isinstance(text, str) else ""


# A compiled function: batch -> int16 vote per item, ABSTAIN where it does not vote. ``timeouts``
# counts the items a regex gave up on.
@dataclass
class Compiled:
    vote: Callable[[Batch], np.ndarray]
    timeouts: int = 0


def _fail(message: str, field: str, code: str = "invalid_labeling_function") -> InvalidLabelingFunction:
    return InvalidLabelingFunction(message, field=field, code=code)


def _config_keys(config: dict, allowed: set[str]) -> None:
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise _fail(
            f"unknown setting {unknown[0]!r} (allowed: {', '.join(sorted(allowed))}).", f"config.{unknown[0]}"
        )


def _number(config: dict, key: str, *, low: float, high: float, default: float | None = None) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _fail(f"must be a number from {low} to {high}, got {value!r}.", f"config.{key}")
    return float(value)


def clean_definition(kind: str, label: str, config, schema: LabelSchema) -> tuple[str, dict]:
    """``(label, config)`` in canonical form, or :class:`InvalidLabelingFunction` naming the field."""
    if kind not in Kind.values:
        raise _fail(f"unknown kind {kind!r} (expected one of {', '.join(Kind.values)}).", "kind")
    if not isinstance(config, dict):
        raise _fail("must be an object.", "config")
    label = label or ""
    if kind == Kind.MODEL:
        if label and label not in schema:
            raise _fail(f"{label!r} is not a class of the project.", "label", "unknown_label")
    elif label not in schema:
        raise _fail(
            f"{label!r} is not a class of the project (classes: {', '.join(schema.class_names)}).",
            "label",
            "unknown_label",
        )
    return label, _CLEANERS[kind](config)


def _clean_keyword(config: dict) -> dict:
    _config_keys(config, {"keywords", "case_sensitive"})
    keywords = config.get("keywords")
    if not isinstance(keywords, list) or not keywords:
        raise _fail("give a non-empty list of keywords.", "config.keywords")
    if len(keywords) > MAX_KEYWORDS:
        raise _fail(f"at most {MAX_KEYWORDS} keywords, got {len(keywords)}.", "config.keywords")
    cleaned = []
    for index, keyword in enumerate(keywords):
        where = f"config.keywords[{index}]"
        if not isinstance(keyword, str) or not keyword.strip():
            raise _fail("must be a non-empty string.", where)
        if len(keyword) > MAX_KEYWORD_LENGTH or any(ord(ch) < 32 for ch in keyword):
            raise _fail(f"at most {MAX_KEYWORD_LENGTH} printable characters.", where)
        cleaned.append(" ".join(keyword.split()))
    case_sensitive = config.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise _fail("must be true or false.", "config.case_sensitive")
    return {"keywords": cleaned, "case_sensitive": case_sensitive}


def _clean_regex(config: dict) -> dict:
    _config_keys(config, {"pattern", "case_sensitive"})
    pattern = config.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise _fail("give a regular expression.", "config.pattern")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise _fail(f"at most {MAX_PATTERN_LENGTH} characters, got {len(pattern)}.", "config.pattern")
    case_sensitive = config.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise _fail("must be true or false.", "config.case_sensitive")
    try:
        compiled = regex.compile(pattern, 0 if case_sensitive else regex.IGNORECASE)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise _fail(f"not a valid regular expression: {exc}.", "config.pattern", "invalid_regex") from None
    for probe in _PROBES:
        try:
            compiled.search(probe, timeout=REGEX_TIMEOUT_SECONDS * 5)
        except TimeoutError:
            raise _fail(
                "takes too long on some texts (catastrophic backtracking); simplify nested repeats.",
                "config.pattern",
                "regex_too_slow",
            ) from None
    return {"pattern": pattern, "case_sensitive": case_sensitive}


def _clean_metadata(config: dict) -> dict:
    _config_keys(config, {"field", "value", "values"})
    name = config.get("field")
    if not isinstance(name, str) or not name or name == "text" or len(name) > 100:
        raise _fail("give the payload field to compare (not the text itself).", "config.field")
    if ("value" in config) == ("values" in config):
        raise _fail("give either value or values.", "config.value")
    values = config["values"] if "values" in config else [config["value"]]
    where = "config.values" if "values" in config else "config.value"
    if not isinstance(values, list) or not values or len(values) > 1000:
        raise _fail("give one to 1,000 values.", where)
    for index, value in enumerate(values):
        if value is not None and not isinstance(value, str | int | float | bool):
            raise _fail("values are strings, numbers, true/false or null.", f"config.values[{index}]")
    return {"field": name, "values": values}


def _clean_similar(config: dict) -> dict:
    _config_keys(config, {"examples", "threshold"})
    examples = config.get("examples")
    if not isinstance(examples, list) or not examples or len(examples) > MAX_EXAMPLES:
        raise _fail(f"give one to {MAX_EXAMPLES} example item ids.", "config.examples")
    for index, example in enumerate(examples):
        if isinstance(example, bool) or not isinstance(example, int) or example < 1:
            raise _fail("must be an item id.", f"config.examples[{index}]")
    return {
        "examples": sorted(set(examples)),
        "threshold": _number(config, "threshold", low=-1, high=1, default=0.8),
    }


def _clean_model(config: dict) -> dict:
    _config_keys(config, {"min_confidence"})
    return {"min_confidence": _number(config, "min_confidence", low=0, high=1, default=0.9)}


_CLEANERS = {
    Kind.KEYWORD: _clean_keyword,
    Kind.REGEX: _clean_regex,
    Kind.METADATA: _clean_metadata,
    Kind.SIMILAR: _clean_similar,
    Kind.MODEL: _clean_model,
}

# ------------------------------------------------------------------------------ compiling


def compile_function(kind: str, label: str, config: dict, schema: LabelSchema) -> Compiled:
    """The text and metadata kinds, evaluated batch by batch over the pool.

    The :data:`POOL_KINDS` need embeddings or a head: :func:`labelhub.weak.apply.apply_functions`
    takes their evaluators as an argument (the active-learning worker passes them).
    """
    code = schema.position(label) if label else ABSTAIN
    if kind == Kind.KEYWORD:
        return _keyword(config, code)
    if kind == Kind.REGEX:
        return _regex(config, code)
    if kind == Kind.METADATA:
        return _metadata(config, code)
    raise ValueError(f"kind {kind!r} is evaluated by the worker, not compiled here")


def _keyword(config: dict, code: int) -> Compiled:
    words = sorted(config["keywords"], key=len, reverse=True)
    body = "|".join(r"\s+".join(re.escape(part) for part in word.split()) for word in words)
    flags = 0 if config.get("case_sensitive") else re.IGNORECASE
    pattern = re.compile(f"{_WORD_EDGES[0]}(?:{body}){_WORD_EDGES[1]}", flags)

    def vote(batch: Batch) -> np.ndarray:
        out = np.full(len(batch.item_ids), ABSTAIN, np.int16)
        joined, starts = batch.joined()
        hits = np.fromiter((m.start() for m in pattern.finditer(joined)), np.int64)
        if len(hits):
            out[np.searchsorted(starts, hits, side="right") - 1] = code
        return out

    return Compiled(vote)


def _regex(config: dict, code: int) -> Compiled:
    pattern = regex.compile(config["pattern"], 0 if config.get("case_sensitive") else regex.IGNORECASE)
    compiled = Compiled(lambda batch: None)

    def vote(batch: Batch) -> np.ndarray:
        out = np.full(len(batch.item_ids), ABSTAIN, np.int16)
        for index, text in enumerate(batch.texts):
            try:
                if pattern.search(text, timeout=REGEX_TIMEOUT_SECONDS) is not None:
                    out[index] = code
            except TimeoutError:
                compiled.timeouts += 1
        return out

    compiled.vote = vote
    return compiled


def _metadata(config: dict, code: int) -> Compiled:
    path = config["field"].split(".")
    wanted = config["values"]

    def lookup(payload):
        for part in path:
            if not isinstance(payload, dict) or part not in payload:
                return _MISSING
            payload = payload[part]
        return payload

    def matches(value) -> bool:
        # 1 == True in Python: compare type-strictly so `true` never matches the number 1.
        return any(type(value) is type(w) and value == w for w in wanted)

    def vote(batch: Batch) -> np.ndarray:
        hits = np.fromiter((matches(lookup(p)) for p in batch.payloads), bool, len(batch.payloads))
        return np.where(hits, code, ABSTAIN).astype(np.int16)

    return Compiled(vote)


_MISSING = object()
