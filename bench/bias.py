"""CrowS-Pairs scoring: pairs/s batched (length-sorted, padding masked) against one sentence at a time, and
the time of the full pronoun probe (60 occupations x 6 templates in one batched pass)."""

import os
import time

import numpy as np


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(pairs: int = int(os.environ.get("BENCH_BIAS_PAIRS", "48")), batch_size: int = 16) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from workbench.bias import probes, scoring
    from workbench.bias.data import load_crows_pairs
    from workbench.models import ModelSpec, load

    loaded = load(ModelSpec("smollm2-135m-instruct"))
    frame = load_crows_pairs().sample(n=pairs, random_state=0)
    sentences = list(frame["stereo"]) + list(frame["anti"])
    print(f"model {loaded.info.name} on {loaded.info.device} ({torch.get_num_threads()} threads), "
          f"{pairs} CrowS-Pairs = {len(sentences)} sentences")
    score = scoring.sentence_log_likelihoods
    score(loaded.model, loaded.tokenizer, sentences[:4], batch_size=4)  # warm-up
    one, t_one = _timed(lambda: score(loaded.model, loaded.tokenizer, sentences, batch_size=1))
    many, t_many = _timed(lambda: score(loaded.model, loaded.tokenizer, sentences, batch_size=batch_size))
    print(f"one at a time : {pairs / t_one:7.2f} pairs/s ({t_one:.1f} s)")
    print(f"batched ({batch_size:>3}) : {pairs / t_many:7.2f} pairs/s ({t_many:.1f} s)")
    print(f"max |score difference| batch 1 vs {batch_size}: {np.abs(one - many).max():.2e} nats")
    print(f"speed-up batched / one at a time: {t_one / t_many:.2f}x (goal >= 3x)")
    prompts = [t.text.split("{pronoun}")[0].rstrip().format(occupation=o)
               for o in ("nurse", "engineer", "baker", "chef", "clerk", "doctor", "janitor", "surgeon", "cashier",
                         "pilot")
               for t in probes.PRONOUN_TEMPLATES]
    ids = [loaded.tokenizer(" he", add_special_tokens=False)["input_ids"][0]]
    nxt = scoring.next_token_log_probs
    single, t_single = _timed(lambda: nxt(loaded.model, loaded.tokenizer, prompts, ids, batch_size=1))
    joint, t_joint = _timed(lambda: nxt(loaded.model, loaded.tokenizer, prompts, ids, batch_size=len(prompts)))
    print(f"pronoun prompts ({len(prompts)}, ~8 tokens): one at a time {len(prompts) / t_single:.1f}/s, one batched "
          f"pass {len(prompts) / t_joint:.1f}/s, speed-up {t_single / t_joint:.2f}x "
          f"(max diff {np.abs(single - joint).max():.1e})")
    _, t_pronouns = _timed(lambda: probes.run_pronouns(loaded))
    print(f"pronoun probe, 60 occupations x {len(probes.PRONOUN_TEMPLATES)} templates, one batched pass: "
          f"{t_pronouns:.1f} s")


if __name__ == "__main__":
    main()
