"""Grid specs from any JSON value or any bytes give a GridSpec or a GridSpecError naming the field, never another
exception (issue 18: `models: 3` was a TypeError). CI runs 200 examples each; WORKBENCH_FUZZ_EXAMPLES=2000 for a
fuzz run."""

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.prompt_lab.grid import GridSpec, GridSpecError, read_grid_file

FUZZ = settings(max_examples=int(os.environ.get("WORKBENCH_FUZZ_EXAMPLES", "200")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FIELDS = ["template", "rows", "param_sets", "adapters", "repeats", "seed", "chat", "system", "batch_size", "models",
          "fast", "endpoints", "temperature", "max_new_tokens", "top_p", "base_url", "model", "x"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.just("Say {x}."),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5),
    max_leaves=25)


def _spec_or_field_error(parse) -> None:
    try:
        result = parse()
    except GridSpecError as err:
        assert str(err)
        return
    spec = result[0] if isinstance(result, tuple) else result
    assert isinstance(spec, GridSpec) and isinstance(spec.template, str)


@FUZZ
@given(st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=8) | JSON_VALUES)
def test_any_json_value_is_a_spec_or_a_grid_spec_error(data):
    _spec_or_field_error(lambda: GridSpec.from_dict(data, path="grid.yaml"))


@FUZZ
@given(st.binary(max_size=300) | st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=8).map(
    lambda d: json.dumps(d).encode()))
def test_any_file_is_a_spec_or_a_grid_spec_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("grid") / "grid.yaml"
    path.write_bytes(content)
    _spec_or_field_error(lambda: read_grid_file(path))


@pytest.mark.parametrize("data, field", [
    ({"template": "Say {x}.", "rows": [{"x": "1"}], "models": 3}, "models"),
    ({"template": 3}, "template"),
    ({"template": "Say {x}.", "rows": [{"x": "1"}], "adapters": 5}, "adapters"),
])
def test_wrong_kinds_name_their_field(data, field):
    with pytest.raises(GridSpecError, match=f"field `{field}`"):
        GridSpec.from_dict(data, path="grid.yaml")


@pytest.mark.parametrize("content", [b"?", b"1: x\n", b"null: 3\ntemplate: hi\n"])
def test_a_key_that_is_not_text_is_named_as_an_unknown_field(tmp_path, content):
    path = tmp_path / "grid.yaml"  # found by the 2,000-example fuzz run: `?` is {None: None}, and the message crashed
    path.write_bytes(content)
    with pytest.raises(GridSpecError, match="unknown field"):
        read_grid_file(path)
