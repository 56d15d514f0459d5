"""Bias data files: hostile files give a ProbeDataError naming file, line and field, never another exception;
property-based (Hypothesis) over any bytes and any JSON value."""

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.bias import data
from workbench.bias.data import ProbeDataError

# CI runs 200 examples per parser; `WORKBENCH_FUZZ_EXAMPLES=2000` for a fuzz run.
FUZZ = settings(max_examples=int(os.environ.get("WORKBENCH_FUZZ_EXAMPLES", "200")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
CROWS_HEADER = "sent_more,sent_less,stereo_antistereo,bias_type\n"
OCCUPATIONS_HEADER = "occupation\tbls_pct_female\n"
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4),
                           max_leaves=30)


def _file(content: bytes, suffix: str) -> Path:
    """A fresh file holding `content` (Hypothesis runs many examples per test, so no tmp_path)."""
    handle, name = tempfile.mkstemp(suffix=suffix)
    os.write(handle, content)
    os.close(handle)
    return Path(name)


def _valid_or_probe_error(load, content: bytes, suffix: str) -> None:
    path = _file(content, suffix)
    try:
        result = load(path)
        assert isinstance(result, pd.DataFrame) and len(result) > 0
    except ProbeDataError as err:
        assert str(path) in str(err)
    finally:
        path.unlink()


def test_unquoted_comma_in_a_crows_pairs_row_names_file_and_line(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(CROWS_HEADER + "A b.,C b.,stereo,age\nHe said, loudly, no.,She said no.,stereo,gender\n")
    with pytest.raises(ProbeDataError, match=r"pairs.csv:3, field `bias_type`: 2 more field\(s\) than the header"):
        data.load_crows_pairs(path)


def test_non_utf8_bold_file_names_file_and_line(tmp_path):
    path = tmp_path / "bold.json"
    path.write_bytes(b'{"a": {"x": ["p"]},\n "b": {"y": ["caf\xe9"]}}')
    with pytest.raises(ProbeDataError, match=r"bold.json:2: not UTF-8 text"):
        data.load_bold_prompts(path)


def test_csv_field_over_the_csv_module_limit_names_file_and_line(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(CROWS_HEADER + "A b.,C b.,stereo,age\n" + f'"{"x" * 131_073}",B.,stereo,age\n')
    with pytest.raises(ProbeDataError, match=r"pairs.csv:3: unreadable as CSV/TSV .*131,072 characters"):
        data.load_crows_pairs(path)


def test_bold_json_too_deep_or_with_huge_integers_is_a_probe_error(tmp_path):
    path = tmp_path / "bold.json"
    for text in ("[" * 100_000, '{"a": ' + "1" * 5000 + "}"):
        path.write_text(text)
        with pytest.raises(ProbeDataError, match="not usable JSON"):
            data.load_bold_prompts(path)


@FUZZ
@given(st.binary(max_size=400) | st.text(max_size=300).map(lambda t: (CROWS_HEADER + t).encode()))
def test_crows_pairs_any_bytes_give_rows_or_a_probe_error(content):
    _valid_or_probe_error(data.load_crows_pairs, content, ".csv")


@FUZZ
@given(st.binary(max_size=400) | st.text(max_size=300).map(lambda t: (OCCUPATIONS_HEADER + t).encode()))
def test_occupations_any_bytes_give_rows_or_a_probe_error(content):
    _valid_or_probe_error(data.load_occupations, content, ".tsv")


@FUZZ
@given(st.binary(max_size=400) | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_bold_prompts_any_bytes_or_json_value_give_rows_or_a_probe_error(content):
    _valid_or_probe_error(data.load_bold_prompts, content, ".json")


@FUZZ
@given(st.dictionaries(st.text(max_size=8), st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3),
                       max_size=3))
def test_bold_prompts_any_nested_object_gives_rows_or_a_probe_error(value):
    _valid_or_probe_error(data.load_bold_prompts, json.dumps(value).encode(), ".json")
