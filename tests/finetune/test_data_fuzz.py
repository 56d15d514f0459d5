"""Fine-tune data files: any bytes and any JSON lines give a Dataset (good rows plus every bad row with its line)
or a DataError, never another exception (issue 18). CI runs 200 examples each; WORKBENCH_FUZZ_EXAMPLES=2000 for a
fuzz run."""

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import WorkbenchError
from workbench.finetune.data import Dataset, read_dataset

FUZZ = settings(max_examples=int(os.environ.get("WORKBENCH_FUZZ_EXAMPLES", "200")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
KEYS = ["prompt", "response", "text", "label", "messages", "role", "content", "other"]
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                               st.sampled_from(KEYS), inner, max_size=4), max_leaves=20)


def _dataset_or_error(path) -> None:
    try:
        result = read_dataset(path)
    except WorkbenchError as err:
        assert str(err)
        return
    assert isinstance(result, Dataset)
    assert all(isinstance(e.line, int) for e in result.errors)


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".jsonl", ".csv", ".txt"]))
def test_any_bytes_are_a_dataset_or_a_data_error(tmp_path_factory, content, suffix):
    path = tmp_path_factory.mktemp("data") / f"train{suffix}"
    path.write_bytes(content)
    _dataset_or_error(path)


@FUZZ
@given(st.lists(JSON_VALUES, max_size=5))
def test_any_json_lines_are_a_dataset_or_a_data_error(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    _dataset_or_error(path)


@pytest.mark.parametrize("content", [b"\r\x00", b"prompt,response\n\"a\rb,c\n", b"text\nx\r\x00y\n"])
def test_csv_with_a_stray_carriage_return_is_a_row_error_not_a_csv_exception(tmp_path, content):
    path = tmp_path / "train.csv"  # found by the fuzz run: `_csv.Error: new-line character seen in unquoted field`
    path.write_bytes(content)
    _dataset_or_error(path)
