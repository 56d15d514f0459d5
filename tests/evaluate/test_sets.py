"""Evaluation set parsers: hostile files give an EvalSetError naming file, line and field, never another
exception; property-based (Hypothesis) over any bytes and any JSON value."""

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.evaluate.sets import EvalSet, EvalSetError, parse_eval_set, read_eval_set

# CI runs 200 examples per parser; `WORKBENCH_FUZZ_EXAMPLES=2000` for a fuzz run.
FUZZ = settings(max_examples=int(os.environ.get("WORKBENCH_FUZZ_EXAMPLES", "200")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                               st.sampled_from(["prompt", "reference", "text", "other"]) | st.text(max_size=6),
                               inner, max_size=4),
                           max_leaves=30)


def _valid_or_set_error(parse) -> None:
    try:
        result = parse()
        assert isinstance(result, EvalSet) and len(result) > 0
        assert all((e.text is None) == (result.kind == "reference") for e in result.examples)
    except EvalSetError:
        pass


def test_non_utf8_eval_set_names_file_and_line(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(EvalSetError, match=r"set.jsonl:2: not UTF-8 text"):
        read_eval_set(path)


@pytest.mark.parametrize("line", ["[" * 100_000, '{"text": ' + "1" * 5000 + "}"])
def test_json_too_deep_or_with_huge_integers_is_an_eval_set_error(line):
    with pytest.raises(EvalSetError, match=r"set.jsonl:2: not usable JSON"):
        parse_eval_set('{"text": "a"}\n' + line, "set.jsonl")


def test_lone_surrogate_escape_is_refused_with_its_field():
    with pytest.raises(EvalSetError, match=r"set.jsonl:1, field `prompt`: holds an unpaired surrogate"):
        parse_eval_set('{"prompt": "\\ud800", "reference": "b"}', "set.jsonl")


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([".jsonl", ".txt", ".json", ".csv"]))
def test_any_bytes_give_an_eval_set_or_an_eval_set_error(content, suffix):
    handle, name = tempfile.mkstemp(suffix=suffix)
    os.write(handle, content)
    os.close(handle)
    try:
        _valid_or_set_error(lambda: read_eval_set(name))
    finally:
        Path(name).unlink()


@FUZZ
@given(st.lists(JSON_VALUES, min_size=0, max_size=5))
def test_any_json_values_give_an_eval_set_or_an_eval_set_error(rows):
    content = "\n".join(json.dumps(r) for r in rows)
    _valid_or_set_error(lambda: parse_eval_set(content, "set.jsonl"))


@FUZZ
@given(st.text(max_size=300), st.sampled_from(["set.jsonl", "set.txt"]))
def test_any_text_gives_an_eval_set_or_an_eval_set_error(content, name):
    _valid_or_set_error(lambda: parse_eval_set(content, name))
