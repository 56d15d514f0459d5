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
