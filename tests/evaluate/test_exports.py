"""CSV exports guard against spreadsheet formula injection: text cells that start like a formula get an apostrophe."""

import io
import json

import numpy as np
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
    back = pd.read_csv(io.StringIO(eval_history.export_table(scores, "csv")))
    assert back.loc[0, "dataset"] == "'=cmd|' /C calc'!A0" and back.loc[0, "model"] == "'@evil"
    assert back.loc[0, "value"] == -0.25


# ---------------------------------------------------------------- per-example rows and paired differences of a run

ROWS = [{"prompt": "Question: What is the capital of France?\nAnswer:", "reference": "Paris"},
        {"prompt": "=1+1 is", "reference": "=2"},  # a spreadsheet would run both cells
        {"prompt": "Question: What is the capital of Italy?\nAnswer:", "reference": "Rome"}]
METRICS = ["perplexity", "exact_match", "rouge", "chrf"]


@pytest.fixture(scope="module")
def run(smollm2, workspace_with_adapter):
    """A tiny real run (3 examples, 4 new tokens) of the base and a random adapter, and its id in the store."""
    from workbench.evaluate.run import EvalOptions, evaluate_models
    from workbench.evaluate.sets import parse_eval_set
    from workbench.models import adapters

    data = parse_eval_set("\n".join(json.dumps(r) for r in ROWS), "tiny.jsonl")
    report = evaluate_models(smollm2, [None, adapters.resolve("page-lora")], data, METRICS,
                             EvalOptions(max_new_tokens=4, resamples=60))
    return report, eval_history.save_run(report)


def _csv(table: pd.DataFrame) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(eval_history.export_table(table, "csv")), keep_default_na=False)


def test_per_example_csv_has_a_row_per_model_and_example_that_adds_up_to_the_scores(run):
    report, _ = run
    rows = _csv(eval_history.report_examples(report))
    assert len(rows) == 2 * len(ROWS)
    assert list(rows.columns[:6]) == ["model", "adapter", "line", "prompt", "reference", "prediction"]
    for result in report.results:
        mine = rows[rows["model"] == result.label]
        assert list(mine["line"]) == [1, 2, 3]
        assert list(mine["prediction"]) == [("'" if o.startswith("=") else "") + o
                                            for o in result.per_example["output"]]
        for key in ("exact_match", "rouge1", "rouge2", "rougeL"):  # corpus score = mean of the per-example values
            assert mine[key].mean() == pytest.approx(result.scores[key], abs=1e-9)
        # perplexity is token-weighted: exp(total NLL / total tokens), from the per-example NLL and token counts
        assert np.exp(mine["nll"].sum() / mine["tokens"].sum()) == pytest.approx(result.scores["perplexity"])
        assert len(mine["chrf"]) == len(ROWS)  # sentence chrF per example (the corpus chrF is not their mean)


def test_per_example_csv_neutralises_a_cell_that_starts_like_a_formula(run):
    rows = _csv(eval_history.report_examples(run[0]))
    assert set(rows.loc[rows["line"] == 2, "prompt"]) == {"'=1+1 is"}
    assert set(rows.loc[rows["line"] == 2, "reference"]) == {"'=2"}


def test_paired_csv_equals_the_runs_comparisons_with_resamples_and_example_count(run):
    report, _ = run
    paired = _csv(eval_history.paired_rows(report))
    assert list(paired.columns) == eval_history.PAIRED_COLUMNS
    expected = report.comparisons
    assert len(paired) == len(expected) == 6  # page-lora - base: perplexity, exact match, ROUGE x3, chrF
    for column in ("model", "against", "key", "clear", "better"):
        assert list(paired[column]) == list(expected[column])
    for column in ("difference", "low", "high"):
        np.testing.assert_allclose(paired[column], expected[column], rtol=1e-12)
    assert set(paired["resamples"]) == {60} and set(paired["n_examples"]) == {len(ROWS)}


def test_a_stored_run_exports_the_same_rows_as_the_run_just_made(run):
    report, run_id = run
    pd.testing.assert_frame_equal(eval_history.stored_paired(run_id), eval_history.paired_rows(report),
                                  check_dtype=False)
    stored, fresh = eval_history.stored_examples(run_id), eval_history.report_examples(report)
    assert list(stored.columns) == list(fresh.columns)
    pd.testing.assert_frame_equal(stored, fresh, check_dtype=False, rtol=1e-12)


def test_eval_command_writes_both_csv_files(run, tmp_path):
    from workbench import cli

    data = tmp_path / "tiny.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS[:2]))
    examples, paired = tmp_path / "examples.csv", tmp_path / "paired.csv"
    code = cli.main(["eval", "smollm2-135m-instruct", str(data), "--device", "cpu", "--adapter", "page-lora",
                     "--metrics", "exact_match", "--max-new-tokens", "2", "--examples-csv", str(examples),
                     "--paired-csv", str(paired)])
    assert code == 0
    rows = pd.read_csv(examples, keep_default_na=False)
    assert list(rows["model"]) == ["base", "base", "page-lora", "page-lora"] and rows.loc[1, "prompt"] == "'=1+1 is"
    table = pd.read_csv(paired)
    assert list(table["key"]) == ["exact_match"] and set(table["n_examples"]) == {2}


def test_eval_command_refuses_an_export_folder_that_does_not_exist_before_loading(tmp_path, capsys):
    from workbench import cli

    data = tmp_path / "tiny.jsonl"
    data.write_text(json.dumps(ROWS[0]))
    assert cli.main(["eval", "smollm2-135m-instruct", str(data), "--metrics", "exact_match",
                     "--paired-csv", str(tmp_path / "missing" / "paired.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
