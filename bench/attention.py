"""Attention explorer vs the obvious baseline (`output_attentions=True` forward + bertviz `head_view`).

Measures, per input length, the time from text to the first head figure ready to draw, the bytes sent to the
browser, and the peak extra memory (RSS high-water mark after the model is loaded and has run one 4-token pass,
reset through /proc/self/clear_refs, so torch allocations count but the weights' first page-in does not). Each
measurement runs in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import load_at_start

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m-instruct"
SENTENCE = "The quick brown fox jumps over the lazy dog while the cat watches from the warm window. "
BASELINE_TIMEOUT_S = int(os.environ.get("BENCH_ATTENTION_BASELINE_TIMEOUT", "600"))
GRID_REPEATS = int(os.environ.get("BENCH_ATTENTION_GRID_REPEATS", "3"))            # interleaved pairs at 2,048
GRID_REPEATS_FULL = int(os.environ.get("BENCH_ATTENTION_GRID_REPEATS_FULL", "1"))  # at 8,192 (eager: ~500 s)
FULL_CONTEXT = 8192          # SmolLM2's context: the first view of one head there has a goal of its own
FIRST_VIEW_GOAL_S = 15


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _child(kind: str, n_tokens: int) -> None:
    """One measurement in this process; prints a JSON record."""
    import torch

    from workbench.models import ModelSpec, attention_implementation, load

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    loaded = load(ModelSpec(MODEL, device="cpu"))
    text = SENTENCE * (n_tokens // 10 + 10)
    import gc

    # Import everything first: library import time is not what we compare.
    from bertviz import head_view

    from workbench.attention.capture import capture_attention
    from workbench.attention.figures import head_heatmap, thumbnail_grid
    from workbench.attention.views import map_view

    with torch.inference_mode():  # one short pass first: the weights' first page-in is the model's, not the view's
        loaded.model(input_ids=torch.tensor([[1, 2, 3, 4]]))
    gc.collect()
    _reset_peak()
    rss0 = _status_kb("VmRSS")
    start = time.perf_counter()
    if kind == "baseline":
        ids = loaded.tokenizer(text, return_tensors="pt")["input_ids"][:, :n_tokens]
        with attention_implementation(loaded, "eager"), torch.inference_mode():
            out = loaded.model(input_ids=ids, output_attentions=True)
        forward_s = time.perf_counter() - start
        tokens = loaded.tokenizer.convert_ids_to_tokens(ids[0])
        html = head_view(out.attentions, tokens, html_action="return").data
        sent = len(html.encode())
    else:
        scan = kind.startswith("grid-")
        layer = loaded.info.layers - 1 if kind == "ours-last" else 0   # last layer: the whole pass runs
        if scan:  # today's path kept layer 0's full maps beside the grid; the block engine keeps none
            engine = kind.removeprefix("grid-")
            cap = capture_attention(loaded, text, [0] if engine == "maps" else [], max_tokens=n_tokens,
                                    overview_size=32, all_statistics=True, engine=engine)
        else:
            cap = capture_attention(loaded, text, [layer], max_tokens=n_tokens)
        forward_s = time.perf_counter() - start
        if scan:
            fig = thumbnail_grid(cap.overview, cap.statistics, causal=True)
        else:
            mv = map_view(cap.head(layer, 0), cap.tokens, causal=True)
            fig = head_heatmap(mv.matrix, mv.query_labels, mv.key_labels, masked=mv.masked,
                               title=f"Layer {layer}, head 0")
        sent = len(fig.to_json().encode())
    seconds = time.perf_counter() - start
    peak_kb = _status_kb("VmHWM") - rss0
    print(json.dumps({"kind": kind, "tokens": n_tokens, "seconds": seconds, "forward_s": forward_s,
                      "bytes": sent, "peak_mb": peak_kb / 1024}))


def _measure(kind: str, n_tokens: int, timeout: int) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1")
    env.setdefault("WORKBENCH_MODEL_CACHE", str(ROOT / ".cache" / "models"))
    code = f"from bench.attention import _child; _child({kind!r}, {n_tokens})"
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "tokens": n_tokens, "timeout": timeout}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"kind": kind, "tokens": n_tokens, "error": (done.stderr or done.stdout).strip()[-300:]}
    return json.loads(lines[-1])


def _row(r: dict) -> str:
    if "timeout" in r:
        return f"{r['kind']:<10} {r['tokens']:>5}  did not finish in {r['timeout']} s"
    if "error" in r:
        return f"{r['kind']:<10} {r['tokens']:>5}  failed: {r['error']}"
    return (f"{r['kind']:<10} {r['tokens']:>5}  {r['seconds']:8.2f} s (forward {r['forward_s']:6.2f} s)"
            f"  {r['bytes'] / 2**20:10.2f} MB sent  {r['peak_mb']:8.0f} MB peak extra")


def grid_engines(n_tokens: int, repeats: int) -> dict:
    """All-heads grid + statistics: today's path (eager maps, `grid-maps`) against the query-block engine
    (`grid-blocks`), interleaved, each run in its own process; medians of time and peak extra memory."""
    import statistics

    runs = {"grid-maps": [], "grid-blocks": []}
    for _ in range(repeats):
        for kind in runs:
            r = _measure(kind, n_tokens, BASELINE_TIMEOUT_S if kind == "grid-maps" else 600)
            print(_row(r), flush=True)
            runs[kind].append(r)
    done = {k: [r for r in v if "seconds" in r] for k, v in runs.items()}
    out = {"tokens": n_tokens, "runs": runs}
    for kind, rs in done.items():
        if rs:
            out[kind] = {"seconds": statistics.median(r["seconds"] for r in rs),
                         "peak_mb": statistics.median(r["peak_mb"] for r in rs)}
    if all(k in out for k in runs):
        out["speedup"] = out["grid-maps"]["seconds"] / out["grid-blocks"]["seconds"]
        out["memory_ratio"] = out["grid-maps"]["peak_mb"] / max(out["grid-blocks"]["peak_mb"], 1)
    return out


def first_view_full_context(n_tokens: int = FULL_CONTEXT, goal_s: float = FIRST_VIEW_GOAL_S) -> dict:
    """Time from text to the first figure of one head (layer 0, head 0, as the One head view opens) at the full
    context, in its own process, against the goal: no baseline runs there (bertviz fails near 512 tokens)."""
    r = _measure("ours", n_tokens, 600)
    print(_row(r), flush=True)
    out = {"tokens": n_tokens, "goal_s": goal_s, **{k: v for k, v in r.items() if k not in ("kind", "tokens")}}
    if "seconds" in r:
        out["meets"] = r["seconds"] <= goal_s
        out["goal_ratio"] = goal_s / r["seconds"]
        print(f"  first view of one head at {n_tokens} tokens: {r['seconds']:.1f} s, {r['peak_mb']:.0f} MB extra "
              f"({'meets' if out['meets'] else 'MISSES'} the {goal_s:g} s goal; goal / time = "
              f"{out['goal_ratio']:.2f})", flush=True)
    return out


def generate_then_inspect(new_tokens: int = 64, repeats: int = 3) -> dict:
    """Plain greedy `generate` (sdpa) against generate-then-inspect (eager attention, every step's rows of every
    layer and head kept, logits for top-k and entropy), interleaved, both forced to `new_tokens` tokens."""
    import statistics

    import torch

    from workbench.attention.generated import generate_and_inspect
    from workbench.models import ModelSpec, load
    from workbench.models.prompts import chat_prompt, text_ids

    loaded = load(ModelSpec(MODEL, device="cpu"))
    prompt = "Write a short story about a lighthouse keeper."
    ids = torch.tensor([text_ids(loaded.tokenizer, chat_prompt(loaded, prompt), prefix=[])])

    def plain() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            loaded.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                  max_new_tokens=new_tokens, min_new_tokens=new_tokens)
        return time.perf_counter() - start

    def ours() -> float:
        return generate_and_inspect(loaded, prompt, new_tokens, chat=True, stop_at_eos=False).seconds

    ours()  # warm both paths once
    plain()
    pairs = [(plain(), ours()) for _ in range(repeats)]
    ratios = [o / p for p, o in pairs]
    return {"new_tokens": new_tokens, "plain_s": [p for p, _ in pairs], "inspect_s": [o for _, o in pairs],
            "inspect_vs_plain": statistics.median(ratios), "spread": [min(ratios), max(ratios)]}


def main() -> None:
    print(f"model {MODEL}, CPU, {os.cpu_count()} cores; first view = layer 0 head 0 heatmap", flush=True)
    load_average, valid = load_at_start()
    print(f"{'kind':<10} {'T':>5}  time to first head figure      bytes to browser   peak extra memory", flush=True)
    results = {}
    for n in (128, 512):
        for kind in ("ours", "baseline"):
            r = _measure(kind, n, BASELINE_TIMEOUT_S if kind == "baseline" else 300)
            results[kind, n] = r
            print(_row(r), flush=True)
        ours, base = results["ours", n], results["baseline", n]
        if "seconds" in ours and "seconds" in base:
            print(f"  ratio at {n} tokens: {base['seconds'] / ours['seconds']:.1f}x faster, "
                  f"{base['bytes'] / ours['bytes']:.0f}x fewer bytes, "
                  f"{base['peak_mb'] / max(ours['peak_mb'], 1):.1f}x less peak memory", flush=True)
        elif "seconds" in ours and "timeout" in base:
            print(f"  ratio at {n} tokens: over {base['timeout'] / ours['seconds']:.0f}x faster "
                  "(baseline did not finish)", flush=True)
    # ours: layer 0 (the page's first view); ours-last: the last layer (full pass).
    for kind in ("ours", "ours-last"):
        r = _measure(kind, 2048, 600)
        results[kind, 2048] = r
        print(_row(r), flush=True)
    # every layer's overview and statistics (the All heads and Statistics views): goals 8 s / 500 MB at 2,048
    # tokens, 180 s / 1 GB at 8,192 (the full context).
    grids = []
    for n, repeats, goal_s, goal_mb in ((2048, GRID_REPEATS, 8, 500), (8192, GRID_REPEATS_FULL, 180, 1024)):
        g = grid_engines(n, repeats)
        grids.append(g)
        if "grid-blocks" in g:
            b = g["grid-blocks"]
            verdict = "meets" if b["seconds"] <= goal_s and b["peak_mb"] < goal_mb else "MISSES"
            print(f"  grid + statistics at {n} tokens, median of {repeats}: blocks {b['seconds']:.1f} s, "
                  f"{b['peak_mb']:.0f} MB extra ({verdict} the {goal_s} s / {goal_mb} MB goal)"
                  + (f"; {g['speedup']:.1f}x faster, {g['memory_ratio']:.1f}x less memory than eager maps"
                     if "speedup" in g else ""), flush=True)
    first_view = first_view_full_context()
    inspect = generate_then_inspect()
    print(f"generate {inspect['new_tokens']} tokens then inspect (every layer and head per step) vs plain "
          f"generate: {inspect['inspect_vs_plain']:.2f}x the time [{inspect['spread'][0]:.2f}-"
          f"{inspect['spread'][1]:.2f}], median of {len(inspect['plain_s'])} interleaved pairs; goal at most 1.5x",
          flush=True)
    print(json.dumps({"bench": "attention", "valid": valid, "load_average": load_average,
                      "views": [{**r, "kind": k, "tokens": n} for (k, n), r in results.items()],
                      "grid": grids, "first_view_full_context": first_view, "generate_then_inspect": inspect}))


if __name__ == "__main__":
    main()
