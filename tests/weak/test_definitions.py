"""Labeling-function definitions: validation naming the field, regex limits, and abstention."""

from __future__ import annotations

import numpy as np
import pytest

from labelhub.projects.labels import LabelSchema
from labelhub.weak.definitions import ABSTAIN, Batch, clean_definition, compile_function
from labelhub.weak.errors import InvalidLabelingFunction

SCHEMA = LabelSchema.build("p", [("animal", "1"), ("plant", "2"), ("tool", "3")], multi_label=False)


def votes(kind, label, config, payloads):
    label, config = clean_definition(kind, label, config, SCHEMA)
    compiled = compile_function(kind, label, config, SCHEMA)
    return compiled.vote(Batch(np.arange(len(payloads)), payloads)).tolist(), compiled


def texts(*values):
    return [{"text": v} for v in values]


def test_keyword_votes_its_class_on_whole_words_and_abstains_elsewhere():
    got, _ = votes(
        "keyword",
        "animal",
        {"keywords": ["dog", "wild cat"]},
        texts("A Dog barks", "dogma", "a wild  cat", "tree"),
    )
    assert got == [0, ABSTAIN, 0, ABSTAIN]


def test_keyword_case_sensitive_when_asked():
    got, _ = votes(
        "keyword", "tool", {"keywords": ["Saw"], "case_sensitive": True}, texts("Saw it", "saw it")
    )
    assert got == [2, ABSTAIN]


def test_regex_votes_where_it_matches():
    got, _ = votes(
        "regex", "plant", {"pattern": r"\b(tree|shrub)s?\b"}, texts("tall trees", "a shrubbery", "")
    )
    assert got == [1, ABSTAIN, ABSTAIN]


def test_metadata_compares_type_strictly_and_abstains_when_missing():
    payloads = [
        {"text": "x", "source": "zoo"},
        {"text": "x", "source": "farm"},
        {"text": "x"},
        {"text": "x", "n": True},
    ]
    got, _ = votes("metadata", "animal", {"field": "source", "values": ["zoo"]}, payloads)
    assert got == [0, ABSTAIN, ABSTAIN, ABSTAIN]
    got, _ = votes("metadata", "animal", {"field": "n", "value": 1}, payloads)
    assert got == [ABSTAIN] * 4


def test_metadata_reads_nested_fields():
    got, _ = votes(
        "metadata",
        "tool",
        {"field": "meta.kind", "value": "hammer"},
        [{"meta": {"kind": "hammer"}}, {"meta": 3}],
    )
    assert got == [2, ABSTAIN]


@pytest.mark.parametrize(
    ("kind", "label", "config", "field"),
    [
        ("keyword", "animal", {"keywords": []}, "config.keywords"),
        ("keyword", "animal", {"keywords": ["ok", ""]}, "config.keywords[1]"),
        ("keyword", "animal", {"keywords": ["ok"], "colour": 1}, "config.colour"),
        ("keyword", "bird", {"keywords": ["ok"]}, "label"),
        ("regex", "animal", {"pattern": "(unclosed"}, "config.pattern"),
        ("regex", "animal", {"pattern": "a" * 301}, "config.pattern"),
        ("metadata", "animal", {"field": "text", "value": "x"}, "config.field"),
        ("metadata", "animal", {"field": "f", "values": [{"a": 1}]}, "config.values[0]"),
        ("similar", "animal", {"examples": [1], "threshold": 2}, "config.threshold"),
        ("similar", "animal", {"examples": ["x"]}, "config.examples[0]"),
        ("model", "", {"min_confidence": -0.1}, "config.min_confidence"),
        ("python", "animal", {}, "kind"),
    ],
)
def test_invalid_definitions_name_the_field(kind, label, config, field):
    with pytest.raises(InvalidLabelingFunction) as caught:
        clean_definition(kind, label, config, SCHEMA)
    assert caught.value.field == field


def test_catastrophic_backtracking_is_refused_at_validation():
    with pytest.raises(InvalidLabelingFunction) as caught:
        clean_definition("regex", "animal", {"pattern": r"(a+)+$"}, SCHEMA)
    assert caught.value.code == "regex_too_slow"
    assert caught.value.field == "config.pattern"


def test_a_regex_that_runs_out_of_time_on_an_item_abstains_there(monkeypatch):
    from labelhub.weak import definitions

    # Validation would refuse this pattern; an item can still be slow for one that passed it.
    monkeypatch.setattr(definitions, "REGEX_TIMEOUT_SECONDS", 0.001)
    compiled = compile_function("regex", "animal", {"pattern": r"(x+x+)+y", "case_sensitive": False}, SCHEMA)
    got = compiled.vote(Batch(np.arange(2), texts("x" * 5000, "xxy"))).tolist()
    assert got == [ABSTAIN, 0]
    assert compiled.timeouts == 1


def test_model_lf_label_is_optional_and_checked():
    assert clean_definition("model", "", {}, SCHEMA) == ("", {"min_confidence": 0.9})
    with pytest.raises(InvalidLabelingFunction) as caught:
        clean_definition("model", "bird", {}, SCHEMA)
    assert caught.value.field == "label"
