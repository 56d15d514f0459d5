"""CSV exports guard against spreadsheet formula injection: text cells that start like a formula get an apostrophe."""

import io

import pandas as pd
import pytest

from workbench.evaluate import history as eval_history
from workbench.exports import spreadsheet_safe, to_safe_csv

HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.mark.parametrize("cell", HOSTILE)
def test_cell_starting_like_a_formula_gets_a_leading_apostrophe(cell):
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("value", ["plain", "a=b", "", 3, -0.5, None])
def test_ordinary_text_and_numbers_are_unchanged(value):
    assert spreadsheet_safe(value) == value


def test_safe_csv_quotes_text_cells_and_headers_but_keeps_negative_numbers():
    table = pd.DataFrame({"model": HOSTILE, "value": [-1.5] * len(HOSTILE), "=cmd": ["ok"] * len(HOSTILE)})
    back = pd.read_csv(io.StringIO(to_safe_csv(table)), keep_default_na=False)
    assert list(back.columns) == ["model", "value", "'=cmd"]
    assert list(back["model"]) == ["'" + c for c in HOSTILE]
    assert list(back["value"]) == [-1.5] * len(HOSTILE)


def test_evaluation_score_export_is_spreadsheet_safe():
    scores = pd.DataFrame([{c: None for c in eval_history.SCORE_COLUMNS}])
    scores = scores.assign(run_id=1, base_model="m", dataset="=cmd|' /C calc'!A0", model="@evil", key="bleu",
                           value=-0.25, ci_low=-0.5, ci_high=0.0)
    back = pd.read_csv(io.StringIO(eval_history.export_scores(scores, "csv")))
    assert back.loc[0, "dataset"] == "'=cmd|' /C calc'!A0" and back.loc[0, "model"] == "'@evil"
    assert back.loc[0, "value"] == -0.25
