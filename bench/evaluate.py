"""Perplexity throughput: ours (loaded once, length-sorted batches, LM head only on scored positions) against
the common recipe (Hugging Face `evaluate`'s perplexity metric, its loop written plainly: load the model on each
call, pad every text to the longest, full-vocabulary logits everywhere), on the same texts in the same run."""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from workbench import workspace
from workbench.evaluate.run import EvalOptions, evaluate
from workbench.evaluate.sets import parse_eval_set, read_eval_set
from workbench.models import ModelSpec, load, prepare_smollm2

N_TEXTS = 32
BATCH = 16  # the metric's default batch size; ours uses the same


def bench_texts() -> list[str]:
    """Texts of 8 to ~260 tokens cut from the bundled perplexity set (deterministic)."""
    words = " ".join(e.text for e in read_eval_set(workspace.data_dir() / "eval_text.txt").examples).split()
    rng = np.random.default_rng(0)
    lengths = np.linspace(6, 200, N_TEXTS).astype(int)
    rng.shuffle(lengths)
    return [" ".join(words[(s := int(rng.integers(0, len(words) - n))):s + n]) for n in lengths]


def common_recipe(model_path, texts: list[str], batch_size: int = BATCH) -> dict:
    """`evaluate`'s perplexity `_compute`, written plainly (evaluate.load would need a download)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": tokenizer.eos_token})
    enc = tokenizer(texts, add_special_tokens=False, padding=True, truncation=True,
                    max_length=model.config.max_position_embeddings - 1, return_tensors="pt",
                    return_attention_mask=True)
    loss_fct = torch.nn.CrossEntropyLoss(reduction="none")
    ppls, tokens = [], 0
    for start in range(0, len(texts), batch_size):
        batch = enc["input_ids"][start:start + batch_size]
        mask = enc["attention_mask"][start:start + batch_size]
        bos = torch.tensor([[tokenizer.bos_token_id]] * batch.size(0))
        batch = torch.cat([bos, batch], dim=1)
        mask = torch.cat([torch.ones(bos.size(), dtype=torch.int64), mask], dim=1)
        with torch.no_grad():
            logits = model(batch, attention_mask=mask).logits
        shift_logits = logits[..., :-1, :].contiguous()
        shift_labels = batch[..., 1:].contiguous()
        shift_mask = mask[..., 1:].contiguous()
        ppl = torch.exp((loss_fct(shift_logits.transpose(1, 2), shift_labels) * shift_mask).sum(1)
                        / shift_mask.sum(1))
        ppls += ppl.tolist()
        tokens += int(shift_mask.sum())
    return {"perplexities": ppls, "mean_perplexity": float(np.mean(ppls)), "tokens": tokens}


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    path = prepare_smollm2()
    texts = bench_texts()
    loaded = load(ModelSpec("smollm2-135m-instruct", device="cpu"))
    data = parse_eval_set("\n\n".join(t.replace("\n", " ") for t in texts), "bench.txt")
    evaluate(loaded, None, parse_eval_set("warm up", "w.txt"), ["perplexity"])  # first-call costs, both sides

    start = time.perf_counter()
    with torch.no_grad():
        baseline = common_recipe(path, texts)
    t_base = time.perf_counter() - start
    start = time.perf_counter()
    ours = evaluate(loaded, None, data, ["perplexity"], EvalOptions(batch_size=BATCH, resamples=200))
    t_ours = time.perf_counter() - start
    load_start = time.perf_counter()
    load(ModelSpec("smollm2-135m-instruct", device="cpu"))
    t_load = time.perf_counter() - load_start

    tokens = ours.tokens_scored
    agree = np.max(np.abs(np.array(baseline["perplexities"]) - ours.per_example["perplexity"].to_numpy())
                   / np.array(baseline["perplexities"]))
    print(f"texts: {len(texts)}, scored tokens: {tokens} (recipe counts {baseline['tokens']}), "
          f"torch threads: {torch.get_num_threads()}")
    print(f"per-text perplexities agree within {agree:.2e} (relative); corpus perplexity (token-weighted) "
          f"{ours.scores['perplexity']:.3f}, recipe's mean of per-text perplexities {baseline['mean_perplexity']:.3f}")
    print(f"common recipe: {t_base:6.2f} s  {tokens / t_base:8.1f} tokens/s  (includes its model load)")
    print(f"ours:          {t_ours:6.2f} s  {tokens / t_ours:8.1f} tokens/s")
    print(f"ratio (ours / recipe): {t_base / t_ours:.2f}x   "
          f"without the recipe's reload (~{t_load:.1f} s): {(t_base - t_load) / t_ours:.2f}x")


if __name__ == "__main__":
    main()
