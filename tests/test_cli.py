"""The `workbench` command: JSON output, and one-line errors with exit code 2."""

import json
import subprocess
import sys


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_models_json_lists_both_embedded_models():
    result = run_cli("models", "--json")
    assert result.returncode == 0, result.stderr
    names = {row["name"]: row for row in json.loads(result.stdout)}
    assert names["smollm2-135m-instruct"]["kind"] == "causal"
    assert names["minilm-l6"]["kind"] == "encoder"
    assert all(row["installed"] for row in names.values())


def test_info_json_is_the_model_card():
    result = run_cli("info", "minilm-l6", "--json")
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert card["heads"] == 12 and card["layers"] == 6 and card["architecture"] == "BertModel"


def test_generate_chat_names_paris():
    result = run_cli("generate", "smollm2-135m-instruct", "What is the capital of France?", "--chat",
                     "--max-new-tokens", "24")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout


def test_unknown_model_is_one_line_error_exit_2_no_traceback():
    result = run_cli("info", "no-such-owner/no-such-model")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and "huggingface-cli download" in error_lines[0]


def test_generate_on_encoder_is_a_clear_error():
    result = run_cli("generate", "minilm-l6", "hello")
    assert result.returncode == 2 and "cannot generate" in result.stderr


def test_attribute_json_names_the_greedy_target_and_scores_every_token():
    result = run_cli("attribute", "smollm2-135m-instruct", "The capital of France is", "--method", "gxi", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["target"] == "␣Paris" and record["method"] == "gxi" and record["position"] == 4
    assert [row["position"] for row in record["tokens"]] == [0, 1, 2, 3, 4]
    assert all(isinstance(row["score"], float) for row in record["tokens"])


def test_attribute_panel_on_the_encoder_and_a_two_token_target_is_one_line_error():
    result = run_cli("attribute", "minilm-l6", "The cat sat", "--target", "an animal", "--method", "ig",
                     "--steps", "8", "--panel", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert set(record["correlations"]) == {"rollout", "gxi", "ig", "occlusion"} and record["message"]
    assert record["kind"] == "encoder" and record["delta"] is not None
    bad = run_cli("attribute", "smollm2-135m-instruct", "The cat", "--target", "two words")
    assert bad.returncode == 2 and "is 2 tokens" in bad.stderr and "Traceback" not in bad.stderr
