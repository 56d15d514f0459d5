"""workbench.stale: an output's inputs against the inputs on screen."""

import pandas as pd

from workbench.prompt_lab.decoding import SamplingParams
from workbench.stale import changed_inputs, stale_message


def test_equal_inputs_of_every_shape_are_not_stale():
    made = {"prompt": "hi", "params": SamplingParams(max_new_tokens=8), "rows": pd.DataFrame({"x": ["a"]}),
            "adapters": ("base",), "seed": 3}
    now = {"prompt": "hi", "params": SamplingParams(max_new_tokens=8), "rows": pd.DataFrame({"x": ["a"]}),
           "adapters": ["base"], "seed": 3}
    assert changed_inputs(made, now) == []
    assert stale_message([]) is None


def test_changed_and_missing_inputs_are_named_in_screen_order():
    made = {"prompt": "hi", "params": SamplingParams(max_new_tokens=8), "rows": pd.DataFrame({"x": ["a"]})}
    now = {"seed": 0, "prompt": "hi!", "params": SamplingParams(max_new_tokens=9), "rows": pd.DataFrame({"x": ["a"]})}
    assert changed_inputs(made, now) == ["seed", "prompt", "params"]
    assert stale_message(["prompt", "seed"]) == ("Stale: changed since this output was made: prompt, seed. "
                                                 "Run again to update it.")


def test_a_changed_table_cell_is_seen():
    assert changed_inputs({"rows": pd.DataFrame({"x": ["a", "b"]})},
                          {"rows": pd.DataFrame({"x": ["a", "c"]})}) == ["rows"]
