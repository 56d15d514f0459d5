"""Contribution graph vs one plain forward pass (issue 15: at most 3x at 512 tokens on SmolLM2).

Ours: `trace_contributions` (one forward pass, eager attention, hooks on every layer, effective output
projections) plus `contribution_graph` from the last token at the default threshold. Baseline: one plain forward
pass over the same token ids (the model's own attention implementation, logits included). Both run in this
process on the same loaded model, interleaved (plain, ours, plain, ours, ...) after one warm-up each; the ratio
is the median of the per-round ratios. BENCH_CONTRIBUTIONS_TOKENS and BENCH_CONTRIBUTIONS_ROUNDS shrink it for a
smoke run."""

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
PARAGRAPH = ("The old lighthouse keeper climbed the stairs every evening at six. He wound the clock, trimmed the "
             "wick and wrote the weather in a small book: wind from the west, rain by midnight, two ships seen. "
             "His daughter, who lived in the town across the bay, sent letters with the grocer's boat on Fridays. "
             "In one of them she asked whether he would come for the winter, when the storms made the stairs "
             "slippery and the boat could not cross. He wrote back that the light could not keep itself. ")


def main() -> None:
    import torch

    from workbench.attention.capture import encode_text
    from workbench.attention.contributions import contribution_graph, trace_contributions
    from workbench.models import ModelSpec, load

    print(f"model {MODEL}, CPU, {os.cpu_count()} cores, {N_TOKENS} tokens, {ROUNDS} interleaved rounds", flush=True)
    load_average, valid = load_at_start()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    loaded = load(ModelSpec(MODEL, device="cpu"))
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
    print(json.dumps({"bench": "contributions", "valid": valid, "load_average": load_average, "tokens": len(ids),
                      "rounds": rounds, "ratio": ratio, "spread": [min(ratios), max(ratios)], "goal": GOAL}))


if __name__ == "__main__":
    main()
