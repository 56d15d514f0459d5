"""Sequence packing: rows packed into one sequence see only themselves, the packed loss equals the unpacked one,
the target-only loss equals the library's, and a packed run trains."""

import json

import pytest
import torch

from tests.finetune.test_train import small_file, start_run
from workbench.finetune import data, train
from workbench.finetune.config import LoraRunConfig
from workbench.models import ModelSpec, batching, locate

ROWS = [  # different lengths, so packs and padding are uneven
    {"prompt": "Rewrite the date as YYYY-MM-DD.\nDate: 7 March 2021\nAnswer:", "response": " 2021-03-07"},
    {"prompt": "Say hi.", "response": " Hi there, nice to meet you!"},
    {"prompt": "Two plus two equals", "response": " four."},
    {"prompt": "The capital of France is", "response": " Paris, a city on the Seine."},
    {"prompt": "Name a colour:", "response": " blue"},
]


def _items(tokenizer, response_only=True):
    return [data.tokenize_row("prompt_response", r, tokenizer, response_only=response_only) for r in ROWS]


def test_pack_keeps_the_order_and_the_capacity():
    lengths = [5, 4, 3, 6, 2, 9, 1]
    packs = batching.pack([0, 1, 2, 3, 4, 5, 6], lengths, capacity=9)
    assert packs == [[0, 1], [2, 3], [4], [5], [6]]
    assert [i for p in packs for i in p] == list(range(7))
    assert all(sum(lengths[i] for i in p) <= 9 for p in packs)
    assert batching.pack([2, 0], [3, 3, 3], capacity=6) == [[2, 0]]


def test_a_row_in_a_pack_gets_the_logits_it_gets_alone(smollm2):
    """No attention across rows: the second and third rows of a pack score exactly as they do unpacked."""
    items = _items(smollm2.tokenizer)
    batch = batching.packed_rows([[(it["input_ids"], it["labels"]) for it in items[:3]]],
                                 batching.padding_id(smollm2.tokenizer), data.IGNORE_INDEX)
    with torch.no_grad():
        packed = smollm2.model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                               use_cache=False).logits[0]
        start = 0
        for it in items[:3]:
            alone = smollm2.model(input_ids=torch.tensor([it["input_ids"]]), use_cache=False).logits[0]
            torch.testing.assert_close(packed[start:start + len(it["input_ids"])], alone, atol=2e-4, rtol=1e-4)
            start += len(it["input_ids"])


@pytest.mark.parametrize("response_only", [True, False])
def test_packed_loss_equals_the_mean_loss_of_the_same_rows_unpacked(smollm2, response_only):
    items = _items(smollm2.tokenizer, response_only)
    examples = train._Examples(items, batching.padding_id(smollm2.tokenizer), "causal")
    packs = batching.pack(range(len(items)), examples.lengths, capacity=40)
    assert 1 < len(packs) < len(items)  # some rows share a pack, and there is padding
    with torch.no_grad():
        unpacked = smollm2.model(**examples.batch(list(range(len(items))), "cpu"), use_cache=False).loss
        packed = smollm2.model(**examples.packed(packs, "cpu"), use_cache=False).loss
        target_only = train.causal_loss(smollm2.model, examples.packed(packs, "cpu"))
    assert packed.item() == pytest.approx(unpacked.item(), rel=1e-4)
    assert target_only.item() == pytest.approx(unpacked.item(), rel=1e-4)


def test_target_only_loss_has_the_library_loss_gradients(tmp_path):
    """The training loss computes logits at the labelled positions only; its LoRA gradients equal those of the
    library's full forward (a fresh model: LoRA must not be injected into the shared one)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = locate(ModelSpec("smollm2-135m-instruct"))
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32),
                           LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                                      init_lora_weights=False, task_type="CAUSAL_LM"))
    examples = train._Examples(_items(tokenizer), batching.padding_id(tokenizer), "causal")
    batch = examples.packed(batching.pack(range(len(ROWS)), examples.lengths, capacity=40), "cpu")
    grads = []
    for loss_of in (lambda: model(**batch, use_cache=False).loss, lambda: train.causal_loss(model, batch)):
        model.zero_grad()
        loss_of().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) == 2 * 2 * 30
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, atol=1e-5, rtol=1e-3)


def test_a_packed_run_trains_and_says_it_packs(tmp_path, smollm2, capfd):
    path = small_file(tmp_path, "demo_dates_train.jsonl", 24)
    result = start_run(tmp_path, data=str(path), max_steps=4, batch_size=2, learning_rate=3e-3, warmup_steps=0,
                       validation_fraction=0, max_length=128, save_every=4, cpu_threads=1)
    assert result.status == "done" and result.steps == 4
    assert "rows packed into sequences of 128 tokens" in capfd.readouterr().out
    losses = [json.loads(x)["loss"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
              if json.loads(x)["kind"] == "train"]
    assert losses[-1] < losses[0]
    meta = json.loads((tmp_path / "run" / "adapter" / "workbench_adapter.json").read_text())
    assert meta["config"]["packing"] is True
    assert meta["metrics"]["tokens"] > 4 * 2 * 42  # two packs per step hold about three 42-token rows each


def test_epoch_order_of_packs_is_a_function_of_seed_and_epoch():
    lengths = [40 + i % 5 for i in range(30)]
    first = train.epoch_batches(lengths, 1, 2, seed=3, group=True, pack_to=128)
    assert first == train.epoch_batches(lengths, 1, 2, seed=3, group=True, pack_to=128)
    assert first != train.epoch_batches(lengths, 2, 2, seed=3, group=True, pack_to=128)
    rows = sorted(i for batch in first for pack in batch for i in pack)
    assert len(rows) == len(set(rows)) and all(sum(lengths[i] for i in p) <= 128 for b in first for p in b)


def test_a_run_stored_before_packing_existed_resumes_unpacked(tmp_path):
    stored = json.loads(LoraRunConfig(data="x.jsonl").to_json())
    del stored["packing"]
    (tmp_path / "config.json").write_text(json.dumps(stored))
    assert LoraRunConfig.load(tmp_path / "config.json").packing is False
    assert LoraRunConfig().packing is True
