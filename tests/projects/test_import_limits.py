"""check_record: the values no store accepts, and the nesting bound, each named by its field."""

import pytest

from labelhub.projects.importing.errors import RecordError
from labelhub.projects.importing.limits import OversizedInteger, check_record, parse_int


def refusal(record, max_depth=64) -> tuple[str, str]:
    with pytest.raises(RecordError) as error:
        check_record(record, max_depth)
    return error.value.field, error.value.code


def test_a_plain_record_passes():
    check_record({"text": "café ✓", "n": 2**63 - 1, "score": 0.5, "tags": ["a", {"b": None}]}, 64)


def test_nul_character_is_refused_by_field():
    assert refusal({"text": "a\x00b"}) == ("text", "invalid_character")
    assert refusal({"meta": {"notes": ["ok", "x\x00"]}}) == ("meta.notes[1]", "invalid_character")


def test_nul_character_in_a_key_is_refused():
    assert refusal({"text": "ok", "bad\x00key": 1}) == ("bad\x00key", "invalid_character")


def test_lone_surrogate_is_refused():
    assert refusal({"text": "a\ud800"}) == ("text", "invalid_character")


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(number):
    assert refusal({"text": "a", "score": number}) == ("score", "invalid_number")


def test_integers_beyond_64_bits_are_refused():
    assert refusal({"text": "a", "n": 2**63}) == ("n", "invalid_number")
    assert refusal({"text": "a", "n": parse_int("9" * 5000)}) == ("n", "invalid_number")


def test_parse_int_converts_short_literals_and_keeps_long_ones_unconverted():
    assert parse_int("-42") == -42
    assert isinstance(parse_int("9" * 5000), OversizedInteger)


def test_nesting_past_the_limit_is_refused_at_the_first_level_too_deep():
    assert refusal({"text": "a", "meta": {"b": {"c": 1}}}, max_depth=2) == ("meta.b", "too_deep")
    check_record({"text": "a", "meta": {"b": 1}}, 2)


def test_a_record_nested_past_python_recursion_is_refused_without_recursing():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert refusal({"text": "a", "deep": deep})[1] == "too_deep"
