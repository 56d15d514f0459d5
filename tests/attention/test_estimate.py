"""The capture estimate: memory and time grow as the request says, and the plan says what will be done."""

import json

import pytest

from workbench.attention.estimate import CaptureRequest, estimate
from workbench.models import ModelInfo

SMOLLM2 = ModelInfo(name="smollm2-135m-instruct", kind="causal", architecture="LlamaForCausalLM", model_type="llama",
                    parameters=134_515_008, layers=30, heads=9, kv_heads=3, head_dim=64, hidden_size=576,
                    context_length=8192, vocab_size=49152, dtype="float32", device="cpu", memory_bytes=0, source="",
                    has_chat_template=True)


def test_grid_estimate_keeps_no_maps_and_grows_with_length():
    short, full = (estimate(SMOLLM2, t, CaptureRequest(0, every_layer=True, overview_size=32), threads=2)
                   for t in (2048, 8192))
    assert short.kept_bytes == 0 and short.read_layers == 30 and "no full map kept" in short.plan
    assert full.seconds > 4 * short.seconds and full.bytes > short.bytes
    assert full.bytes < 2 ** 30 and full.block_rows < 256                  # blocks shrink to stay small at 8,192


def test_kept_maps_are_counted_and_too_much_memory_says_what_to_do():
    one = estimate(SMOLLM2, 8192, CaptureRequest(kept_layers=1), threads=2, available=2 ** 30)
    assert one.kept_bytes == 9 * 8192 * 8192 * 2 and one.read_layers == 1
    assert not one.fits and "pick fewer layers or fewer tokens" in one.plan
    assert estimate(SMOLLM2, 8192, CaptureRequest(kept_layers=1), threads=2, available=None).fits
    assert estimate(SMOLLM2, 512, CaptureRequest(), threads=4).seconds < estimate(
        SMOLLM2, 512, CaptureRequest(), threads=1).seconds


@pytest.mark.parametrize("tokens", [1, 300])
def test_estimate_record_is_plain_json(tokens):
    record = estimate(SMOLLM2, tokens, CaptureRequest(), threads=1).to_dict()
    assert set(record) == {"bytes", "seconds", "kept_bytes", "read_layers", "block_rows", "fits", "plan"}
    json.dumps(record)


def test_cli_prints_the_estimate_and_stops(capsys):
    from workbench.cli import main

    assert main(["attention", "minilm-l6", "The cat sat on the mat.", "--stats", "--estimate", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["tokens"] == 9 and record["read_layers"] == 6 and record["kept_bytes"] == 0

