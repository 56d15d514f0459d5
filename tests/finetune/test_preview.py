"""The data section's report on a real training file: format, rows, split, labels, and bad rows listed."""

import json
from pathlib import Path

from workbench.finetune import data, preview

ROOT = Path(__file__).resolve().parents[2]


def test_demo_dates_file_reports_its_split_and_is_usable(smollm2):
    path = ROOT / "data" / "demo_dates_train.jsonl"
    report = preview.data_report(path, smollm2.tokenizer, 128, "causal")
    n_rows = len(data.read_dataset(path).rows)
    n_val = len(data.split_indices(n_rows, 0.1, 0)[1])
    assert report.format == "prompt_response" and report.rows == n_rows and report.usable
    assert report.split(0.1) == (n_rows - n_val, n_val)
    assert report.summary(path.name, 0.1) == (f"**demo_dates_train.jsonl** · format `prompt_response` · {n_rows} "
                                              f"good rows → {n_rows - n_val} train / {n_val} validation")
    assert len(report.lengths) == n_rows and report.preview


def test_sentiment_file_lists_its_labels(minilm):
    path = ROOT / "data" / "demo_sentiment_train.jsonl"
    report = preview.data_report(path, minilm.tokenizer, 128, "classification")
    assert report.labels and report.summary(path.name, 0.2).endswith(f" · labels: {', '.join(report.labels)}")


def test_a_bad_row_makes_the_file_unusable_and_is_listed(smollm2, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"prompt": "1 May", "response": "May 1"}) + "\n" + json.dumps({"prompt": "x"}) + "\n")
    report = preview.data_report(path, smollm2.tokenizer, 128, "causal")
    assert not report.usable
    assert report.errors_message() == "1 bad row(s): fix them before training (every one is listed)."
    assert report.errors[0]["line"] == 2
