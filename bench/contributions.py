"""Issue 15's two speed goals on SmolLM2: the contribution graph vs one plain forward pass (at most 3x at 512
tokens), and integrated gradients batched over steps vs a loop of single backward passes (at least 3x faster with
32 steps at 128 tokens).

Ours: `trace_contributions` (one forward pass, eager attention, hooks on every layer, effective output
projections) plus `contribution_graph` from the last token at the default threshold. Baseline: one plain forward
pass over the same token ids (the model's own attention implementation, logits included). Both run in this
process on the same loaded model, interleaved (plain, ours, plain, ours, ...) after one warm-up each; the ratio
is the median of the per-round ratios. BENCH_CONTRIBUTIONS_TOKENS and BENCH_CONTRIBUTIONS_ROUNDS shrink it for a
smoke run.

Integrated gradients: `attribute(method="ig")` as the page runs it (Captum, as many path points per forward and
backward pass as `attribution.TOKENS_PER_BATCH` allows: all 32 at 128 tokens) against the same call with
`TOKENS_PER_BATCH` set to 1, which makes Captum run one path point per pass: the loop of single backward passes,
through the same objective, baseline and quadrature. Interleaved the same way; the two must agree to float
rounding (printed). BENCH_IG_TOKENS, BENCH_IG_STEPS and BENCH_IG_ROUNDS shrink it."""

from __future__ import annotations

import json
import os
import statistics
import time

from bench import load_at_start

MODEL = "smollm2-135m-instruct"
N_TOKENS = int(os.environ.get("BENCH_CONTRIBUTIONS_TOKENS", "512"))
ROUNDS = int(os.environ.get("BENCH_CONTRIBUTIONS_ROUNDS", "3"))
GOAL = 3.0  # at most this many plain forward passes
IG_TOKENS = int(os.environ.get("BENCH_IG_TOKENS", "128"))
IG_STEPS = int(os.environ.get("BENCH_IG_STEPS", "32"))
IG_ROUNDS = int(os.environ.get("BENCH_IG_ROUNDS", str(ROUNDS)))
IG_GOAL = 3.0  # batched over steps at least this many times faster than the loop
PARAGRAPH = ("The old lighthouse keeper climbed the stairs every evening at six. He wound the clock, trimmed the "
             "wick and wrote the weather in a small book: wind from the west, rain by midnight, two ships seen. "
             "His daughter, who lived in the town across the bay, sent letters with the grocer's boat on Fridays. "
             "In one of them she asked whether he would come for the winter, when the storms made the stairs "
             "slippery and the boat could not cross. He wrote back that the light could not keep itself. ")


def graph_speed(loaded) -> dict:
    """The contribution graph against one plain forward pass, interleaved rounds (see the module docstring)."""
    import torch

    from workbench.attention.capture import encode_text
    from workbench.attention.contributions import contribution_graph, trace_contributions

    print(f"contribution graph: {N_TOKENS} tokens, {ROUNDS} interleaved rounds", flush=True)
    text = PARAGRAPH * (N_TOKENS // 80 + 2)
    _, ids, _ = encode_text(loaded, text, max_tokens=N_TOKENS)
    input_ids = torch.tensor([ids])

    def plain() -> float:
        start = time.perf_counter()
        with loaded.lock, torch.inference_mode():
            loaded.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
        return time.perf_counter() - start

    def ours() -> tuple[float, float, int]:
        start = time.perf_counter()
        trace = trace_contributions(loaded, text, max_tokens=N_TOKENS)
        traced = time.perf_counter()
        graph = contribution_graph(trace)
        end = time.perf_counter()
        return end - start, traced - start, len(graph.edges)

    plain()  # warm both paths once: first-call costs are not what we compare
    ours()
    rounds = []
    for r in range(ROUNDS):
        p = plain()
        o, traced, edges = ours()
        rounds.append({"plain_s": p, "ours_s": o, "trace_s": traced, "graph_s": o - traced, "edges": edges})
        print(f"round {r}: plain {p:.3f} s, ours {o:.3f} s (pass {traced:.3f} s + graph {o - traced:.3f} s, "
              f"{edges} edges): {o / p:.2f}x", flush=True)
    ratios = [x["ours_s"] / x["plain_s"] for x in rounds]
    ratio = statistics.median(ratios)
    print(f"contribution graph vs one plain forward pass at {len(ids)} tokens: {ratio:.2f}x the time "
          f"[{min(ratios):.2f}-{max(ratios):.2f}], median of {ROUNDS} interleaved rounds; goal at most {GOAL:.0f}x: "
          f"{'met' if ratio <= GOAL else 'NOT met'}", flush=True)
    return {"tokens": len(ids), "rounds": rounds, "ratio": ratio, "spread": [min(ratios), max(ratios)], "goal": GOAL}


def ig_speed(loaded) -> dict:
    """Integrated gradients batched over steps against one path point per pass (see the module docstring)."""
    import numpy as np

    from workbench.attention import attribution

    print(f"integrated gradients: {IG_STEPS} steps, {IG_TOKENS} tokens, {IG_ROUNDS} interleaved rounds", flush=True)
    text = PARAGRAPH * (IG_TOKENS // 80 + 2)
    batched_size = attribution.TOKENS_PER_BATCH

    def run(tokens_per_batch: int) -> tuple[float, np.ndarray]:
        attribution.TOKENS_PER_BATCH = tokens_per_batch
        try:
            start = time.perf_counter()
            found = attribution.attribute(loaded, text, method="ig", steps=IG_STEPS, max_tokens=IG_TOKENS)
            return time.perf_counter() - start, found.scores
        finally:
            attribution.TOKENS_PER_BATCH = batched_size

    run(1)  # warm both paths once
    run(batched_size)
    rounds = []
    for r in range(IG_ROUNDS):
        loop_s, loop_scores = run(1)
        batched_s, batched_scores = run(batched_size)
        gap = float(np.abs(batched_scores - loop_scores).max() / max(np.abs(loop_scores).max(), 1e-12))
        rounds.append({"loop_s": loop_s, "batched_s": batched_s, "largest_gap": gap})
        print(f"round {r}: loop {loop_s:.2f} s, batched {batched_s:.2f} s: {loop_s / batched_s:.2f}x faster "
              f"(scores agree to {gap:.1e} of the largest)", flush=True)
    speedups = [x["loop_s"] / x["batched_s"] for x in rounds]
    speedup = statistics.median(speedups)
    print(f"integrated gradients, {IG_STEPS} steps at {IG_TOKENS} tokens, batched over steps vs a loop of single "
          f"backward passes: {speedup:.2f}x faster [{min(speedups):.2f}-{max(speedups):.2f}], median of {IG_ROUNDS} "
          f"interleaved rounds; goal at least {IG_GOAL:.0f}x: {'met' if speedup >= IG_GOAL else 'NOT met'}",
          flush=True)
    return {"tokens": IG_TOKENS, "steps": IG_STEPS, "rounds": rounds, "speedup": speedup,
            "spread": [min(speedups), max(speedups)], "goal": IG_GOAL}


def main() -> None:
    import torch

    from workbench.models import ModelSpec, load

    print(f"model {MODEL}, CPU, {os.cpu_count()} cores", flush=True)
    load_average, valid = load_at_start()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    loaded = load(ModelSpec(MODEL, device="cpu"))
    graph = graph_speed(loaded)
    print(json.dumps({"bench": "contributions", "valid": valid, "load_average": load_average, **graph,
                      "ig": ig_speed(loaded)}))


if __name__ == "__main__":
    main()
