"""Generation speed, each ratio the median of interleaved repetitions (baseline, candidate, baseline, ...):
the grid against one left-padded plain `model.generate` batch (8 chat prompts, and 24 cells of mixed prompt
lengths and max tokens), one stream against plain `generate`, the memory-bandwidth limit, and the int8 fast mode
against plain `generate` with its agreement with exact greedy; outputs checked against one-by-one greedy.
Ends with one JSON line holding every figure. `python -m bench generation`.

Smaller runs for a quick check: BENCH_NEW_TOKENS (64), BENCH_PROMPTS (8), BENCH_REPEATS (3), BENCH_MIXED_ROWS (12).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable

import torch

from bench import load_at_start

PROMPTS = ["Write a short poem about the sea.", "What is the capital of France?", "Explain gravity to a child.",
           "List three fruits and their colours.", "How do I boil an egg?", "Why is the sky blue?",
           "Give me a tip for learning to code.", "What does a compass do?"]
NEW_TOKENS = int(os.environ.get("BENCH_NEW_TOKENS", "64"))
N_PROMPTS = int(os.environ.get("BENCH_PROMPTS", str(len(PROMPTS))))
REPEATS = max(1, int(os.environ.get("BENCH_REPEATS", "3")))
MIXED_ROWS = int(os.environ.get("BENCH_MIXED_ROWS", "12"))


def read_bandwidth(megabytes: int = 512, repeats: int = 5) -> float:
    """Bytes per second a sum over a large float32 tensor reads (best of `repeats`)."""
    x = torch.ones(megabytes * 2**20 // 4)
    x.sum()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - start)
    return x.numel() * 4 / best


def _timed(fn: Callable):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def interleaved(baseline: Callable, candidate: Callable, repeats: int = REPEATS) -> dict:
    """Run baseline, candidate, baseline, candidate, ...; seconds of each run, the median of the per-pair
    speed-ups (baseline time / candidate time), their spread, and the last outputs of both."""
    base_s, cand_s = [], []
    for _ in range(repeats):
        base_out, t = _timed(baseline)
        base_s.append(t)
        cand_out, t = _timed(candidate)
        cand_s.append(t)
    ratios = [b / c for b, c in zip(base_s, cand_s)]
    return {"baseline_s": base_s, "candidate_s": cand_s, "ratio": statistics.median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios), "outputs": (base_out, cand_out)}


def _mixed_rows(n: int) -> list[str]:
    """`n` chat prompts of mixed lengths: the base prompts, some with a long preamble."""
    preamble = "Please answer carefully and in plain words, as if to a curious friend who has time to listen. "
    return [preamble * (i % 4) + PROMPTS[i % len(PROMPTS)] for i in range(n)]


class Bench:
    """The loaded model and the plain-`generate` baselines the candidates are measured against."""

    def __init__(self) -> None:
        from workbench.models import ModelSpec, load
        from workbench.models.batching import padding_id

        self.loaded = load(ModelSpec("smollm2-135m-instruct", device="cpu", dtype="float32"))
        self.tok = self.loaded.tokenizer
        self.pad = padding_id(self.tok)

    def encode(self, prompts: list[str]) -> list[list[int]]:
        from workbench.models.prompts import chat_prompt, text_ids

        return [text_ids(self.tok, chat_prompt(self.loaded, p), prefix=[]) for p in prompts]

    def plain(self, sequences: list[list[int]], new_tokens: int, model=None) -> list[list[int]]:
        """Plain greedy `model.generate` on one left-padded batch; new tokens per row, cut after the stop token."""
        from workbench.models.batching import left_pad

        ids, mask = left_pad(sequences, self.pad)
        with torch.inference_mode():
            out = (model or self.loaded.model).generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
                                                        do_sample=False, pad_token_id=self.pad)
        return [self.until_stop(row) for row in out[:, ids.shape[1]:].tolist()]

    def until_stop(self, row: list[int]) -> list[int]:
        stop = self.tok.eos_token_id
        return row[:row.index(stop) + 1] if stop in row else row

    def text(self, row: list[int]) -> str:
        return self.tok.decode(row, skip_special_tokens=True)


def grid_figures(b: Bench, prompts: list[str]) -> dict:
    """Plain one by one (once), then plain one batch against our grid, interleaved."""
    from workbench.prompt_lab.decoding import SamplingParams
    from workbench.prompt_lab.generation import generate_grid
    from workbench.prompt_lab.grid import GridSpec

    encoded = b.encode(prompts)
    sequential, t_seq = _timed(lambda: [b.plain([ids], NEW_TOKENS)[0] for ids in encoded])
    spec = GridSpec(template="{p}", rows=tuple({"p": p} for p in prompts), param_sets=(SamplingParams(NEW_TOKENS),),
                    batch_size=len(prompts))
    run = interleaved(lambda: b.plain(encoded, NEW_TOKENS), lambda: generate_grid(b.loaded, spec))
    same = sum(c.text == b.text(s) for c, s in zip(run["outputs"][1].cells, sequential))
    t_batch, t_grid = statistics.median(run["baseline_s"]), statistics.median(run["candidate_s"])
    print(f"grid: {len(prompts)} chat prompts x {NEW_TOKENS} new tokens, greedy, SmolLM2 float32 on CPU")
    print(f"  plain generate, one by one      {t_seq:7.1f} s")
    print(f"  plain generate, one batch       {t_batch:7.1f} s   ({t_seq / t_batch:.1f}x sequential)")
    print(f"  ours (grid, length buckets)     {t_grid:7.1f} s   ({t_seq / t_grid:.1f}x sequential, "
          f"{run['ratio']:.2f}x batched plain [{run['ratio_min']:.2f}-{run['ratio_max']:.2f}]; goal 1.3x)")
    print(f"  outputs equal to one-by-one greedy: {same}/{len(prompts)}")
    return {"cells": len(prompts), "new_tokens": NEW_TOKENS, "sequential_s": t_seq, "plain_batch_s": run["baseline_s"],
            "grid_s": run["candidate_s"], "grid_vs_plain_batch": run["ratio"], "equal_to_greedy": same}


def mixed_figures(b: Bench, rows: int) -> dict:
    """A grid of `rows` prompts of mixed lengths x two max-token settings: plain batches in input order against
    our length-bucketed grid, interleaved; every cell checked against one-by-one greedy."""
    from workbench.prompt_lab.decoding import SamplingParams
    from workbench.prompt_lab.generation import generate_grid
    from workbench.prompt_lab.grid import GridSpec

    prompts, budgets, batch = _mixed_rows(rows), (max(1, NEW_TOKENS // 4), NEW_TOKENS), 4
    encoded = b.encode(prompts)
    spec = GridSpec(template="{p}", rows=tuple({"p": p} for p in prompts),
                    param_sets=tuple(SamplingParams(n) for n in budgets), batch_size=batch)

    def plain_grid() -> list[list[int]]:
        return [row for n in budgets for start in range(0, rows, batch)
                for row in b.plain(encoded[start:start + batch], n)]

    run = interleaved(plain_grid, lambda: generate_grid(b.loaded, spec))
    alone = [b.text(b.plain([ids], n)[0]) for n in budgets for ids in encoded]
    same = sum(c.text == t for c, t in zip(run["outputs"][1].cells, alone))
    cells = rows * len(budgets)
    print(f"mixed grid: {cells} cells ({rows} prompts of {min(map(len, encoded))}-{max(map(len, encoded))} tokens "
          f"x max tokens {budgets}), batches of {batch}")
    print(f"  plain generate, batches in input order {statistics.median(run['baseline_s']):7.1f} s")
    print(f"  ours (grid, length buckets)            {statistics.median(run['candidate_s']):7.1f} s   "
          f"({run['ratio']:.2f}x [{run['ratio_min']:.2f}-{run['ratio_max']:.2f}]; goal 1.3x)")
    print(f"  outputs equal to one-by-one greedy: {same}/{cells}")
    return {"cells": cells, "plain_s": run["baseline_s"], "grid_s": run["candidate_s"],
            "grid_vs_plain": run["ratio"], "equal_to_greedy": same}


def stream_figures(b: Bench, prompt: str) -> dict:
    """One stream: plain `generate` against ours (a streamed `generate`), interleaved, in tokens per second."""
    from workbench.prompt_lab.decoding import SamplingParams
    from workbench.prompt_lab.generation import generate

    ids = b.encode([prompt])
    run = interleaved(lambda: b.plain(ids, NEW_TOKENS)[0],
                      lambda: generate(b.loaded, prompt, SamplingParams(NEW_TOKENS), chat=True))
    plain_new, ours = run["outputs"]
    plain_tps = [len(plain_new) / t for t in run["baseline_s"]]
    ours_tps = [ours.new_tokens / t for t in run["candidate_s"]]
    bandwidth = read_bandwidth()
    weight_bytes = sum(p.numel() * p.element_size() for p in b.loaded.model.parameters())
    limit = bandwidth / weight_bytes
    plain_med, ours_med = statistics.median(plain_tps), statistics.median(ours_tps)
    print(f"single stream: plain generate {plain_med:5.1f} tok/s, ours {ours_med:5.1f} tok/s "
          f"({run['ratio']:.2f}x [{run['ratio_min']:.2f}-{run['ratio_max']:.2f}]; goal 1.3x)")
    print(f"memory-bandwidth limit: {weight_bytes / 1e6:.0f} MB of weights per token / {bandwidth / 1e9:.1f} GB/s "
          f"read = {limit:.1f} tok/s; ours reaches {ours_med / limit:.0%} of it, plain {plain_med / limit:.0%}")
    return {"plain_tok_s": plain_tps, "ours_tok_s": ours_tps, "ours_vs_plain": run["ratio"],
            "bandwidth_gb_s": bandwidth / 1e9, "limit_tok_s": limit, "ours_share_of_limit": ours_med / limit}


def fast_figures(b: Bench, prompts: list[str]) -> dict:
    """Fast mode (int8 copy) against plain `generate` on one stream, interleaved; its agreement with exact greedy:
    outputs identical, and the share of tokens before the first difference."""
    from workbench.prompt_lab.decoding import SamplingParams
    from workbench.prompt_lab.fast import quantised_copy
    from workbench.prompt_lab.generation import generate

    with b.loaded.lock:
        quantised_copy(b.loaded)  # made once, outside the timing
    ids = b.encode(prompts[:1])
    run = interleaved(lambda: b.plain(ids, NEW_TOKENS)[0],
                      lambda: generate(b.loaded, prompts[0], SamplingParams(NEW_TOKENS), chat=True, fast=True))
    identical, prefix = 0, []
    for prompt, exact in zip(prompts, (b.plain([s], NEW_TOKENS)[0] for s in b.encode(prompts))):
        fast = generate(b.loaded, prompt, SamplingParams(NEW_TOKENS), chat=True, fast=True).token_ids
        same = next((k for k, (x, y) in enumerate(zip(exact, fast)) if x != y), min(len(exact), len(fast)))
        identical += exact == fast
        prefix.append(same / max(len(exact), 1))
    print(f"fast mode (int8 dynamic, approximate): {run['ratio']:.2f}x plain single stream "
          f"[{run['ratio_min']:.2f}-{run['ratio_max']:.2f}]; goal 2x")
    print(f"  agreement with exact greedy: {identical}/{len(prompts)} outputs identical, "
          f"{statistics.mean(prefix):.0%} of tokens before the first difference")
    return {"plain_s": run["baseline_s"], "fast_s": run["candidate_s"], "fast_vs_plain": run["ratio"],
            "identical_outputs": identical, "prompts": len(prompts), "agreeing_prefix_share": statistics.mean(prefix)}


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads")
    load_average, valid = load_at_start()
    print(f"each ratio: median of {REPEATS} interleaved repetitions (baseline, candidate, ...), [min-max]")
    b = Bench()
    b.plain(b.encode(PROMPTS[:1]), 2)  # warm-up
    prompts = (PROMPTS * (N_PROMPTS // len(PROMPTS) + 1))[:N_PROMPTS]
    figures = {"bench": "generation", "valid": valid, "load_average": load_average, "repeats": REPEATS,
               "threads": torch.get_num_threads(), "grid": grid_figures(b, prompts),
               "mixed_grid": mixed_figures(b, MIXED_ROWS), "stream": stream_figures(b, PROMPTS[0]),
               "fast": fast_figures(b, prompts)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
