"""Generation speed: plain `model.generate` (one by one, and one left-padded batch) against our grid decoder,
single-stream tokens/s against plain `generate`, and against the memory-bandwidth limit. `python -m bench generation`.
"""

from __future__ import annotations

import os
import time

import torch

PROMPTS = ["Write a short poem about the sea.", "What is the capital of France?", "Explain gravity to a child.",
           "List three fruits and their colours.", "How do I boil an egg?", "Why is the sky blue?",
           "Give me a tip for learning to code.", "What does a compass do?"]
NEW_TOKENS = int(os.environ.get("BENCH_NEW_TOKENS", "64"))


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


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from workbench.models import ModelSpec, load
    from workbench.models.batching import left_pad
    from workbench.models.prompts import chat_prompt, text_ids
    from workbench.prompt_lab.decoding import SamplingParams
    from workbench.prompt_lab.generation import generate, generate_grid
    from workbench.prompt_lab.grid import GridSpec

    loaded = load(ModelSpec("smollm2-135m-instruct", device="cpu", dtype="float32"))
    model, tok = loaded.model, loaded.tokenizer
    encoded = [text_ids(tok, chat_prompt(loaded, p), prefix=[]) for p in PROMPTS]
    plain_args = {"max_new_tokens": NEW_TOKENS, "do_sample": False, "pad_token_id": tok.pad_token_id}
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"grid: {len(PROMPTS)} chat prompts x {NEW_TOKENS} new tokens, greedy, SmolLM2 float32 on CPU")

    def plain_one(ids: list[int]) -> list[int]:
        out = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             **plain_args)
        return out[0, len(ids):].tolist()

    with torch.inference_mode():
        plain_one(encoded[0][:8])  # warm-up
        sequential, t_seq = _timed(lambda: [plain_one(ids) for ids in encoded])
        print(f"  plain generate, one by one      {t_seq:7.1f} s", flush=True)
        ids, mask = left_pad(encoded, tok.pad_token_id)
        batched, t_batch = _timed(lambda: model.generate(input_ids=ids, attention_mask=mask, **plain_args))
    spec = GridSpec(template="{p}", rows=tuple({"p": p} for p in PROMPTS),
                    param_sets=(SamplingParams(NEW_TOKENS),), batch_size=len(PROMPTS))
    ours, t_ours = _timed(lambda: generate_grid(loaded, spec))
    same = sum(c.text == tok.decode(s, skip_special_tokens=True) for c, s in zip(ours.cells, sequential))
    print(f"  plain generate, one batch       {t_batch:7.1f} s   ({t_seq / t_batch:.1f}x sequential)")
    print(f"  ours (grid, bucketed, lean KV)  {t_ours:7.1f} s   ({t_seq / t_ours:.1f}x sequential, "
          f"{t_batch / t_ours:.2f}x batched plain; goals 6x and 1.5x)")
    print(f"  outputs equal to one-by-one greedy: {same}/{len(PROMPTS)}")

    # single stream, interleaved so both see the same machine load
    prompt, n_plain, n_ours, s_plain, s_ours = PROMPTS[0], 0, 0, 0.0, 0.0
    for _ in range(2):
        with torch.inference_mode():
            new, t = _timed(lambda: plain_one(encoded[0]))
        n_plain, s_plain = n_plain + len(new), s_plain + t
        gen, t = _timed(lambda: generate(loaded, prompt, SamplingParams(NEW_TOKENS), chat=True))
        n_ours, s_ours = n_ours + gen.new_tokens, s_ours + t
    plain_tps, ours_tps = n_plain / s_plain, n_ours / s_ours
    bandwidth = read_bandwidth()
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    limit = bandwidth / weight_bytes
    print(f"single stream: plain generate {plain_tps:5.1f} tok/s, ours {ours_tps:5.1f} tok/s "
          f"({ours_tps / plain_tps:.2f}x; goal 1.3x)")
    print(f"memory-bandwidth limit: {weight_bytes / 1e6:.0f} MB of weights per token / {bandwidth / 1e9:.1f} GB/s "
          f"read = {limit:.1f} tok/s; ours reaches {ours_tps / limit:.0%} of it, plain {plain_tps / limit:.0%}")


if __name__ == "__main__":
    main()
