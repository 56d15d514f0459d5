"""Scoring primitives the probes are built on: sentence log-likelihoods (causal), pseudo-log-likelihoods
(masked), next-token probabilities, sampled continuations, and the interval statistics for their summaries.

Every model function takes a model and its tokenizer (not a LoadedModel) so tests can hand in a tiny
randomly initialised model; callers hold the model lock."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from workbench.models.batching import chunks, left_pad, padding_id, position_ids, right_pad
from workbench.models.prompts import bos_ids, text_ids
from workbench.models.scoring import sequence_logprobs
from workbench.progress import Progress, no_progress


def conditioned_ids(tokenizer, text: str) -> list[int]:
    """A text's tokens after the token it is conditioned on (BOS, else EOS), so its first word gets a
    probability too."""
    return text_ids(tokenizer, text, prefix=bos_ids(tokenizer, eos_fallback=True))


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def sentence_log_likelihoods(model, tokenizer, sentences: Sequence[str], *, batch_size: int = 16,
                             progress: Progress = no_progress) -> np.ndarray:
    """Sum of log p(token_t | tokens_<t) over each whole sentence (nats), conditioned on BOS; (N,).

    `sequence_logprobs` pads on the right with a mask, so a sentence scores the same alone or in any batch
    (lm-eval-harness #704)."""
    values = sequence_logprobs(model, [conditioned_ids(tokenizer, s) for s in sentences], 1, batch_size=batch_size,
                               pad_id=padding_id(tokenizer), progress=progress)
    return np.array([v.sum() for v in values], dtype=np.float64)


def pseudo_log_likelihoods(model, tokenizer, sentences: Sequence[str], *, batch_size: int = 64,
                           progress: Progress = no_progress) -> np.ndarray:
    """Masked-LM pseudo-log-likelihood: sum over tokens of log p(token_i | sentence with token i masked)
    (Salazar et al. 2020); special tokens ([CLS], [SEP]) are never masked or scored; (N,)."""
    device = _device(model)
    jobs = []  # (sentence index, position, token id, ids with that position masked)
    for n, sentence in enumerate(sentences):
        ids = tokenizer(sentence)["input_ids"]
        special = set(tokenizer.all_special_ids)
        for pos, token in enumerate(ids):
            if token not in special:
                masked = list(ids)
                masked[pos] = tokenizer.mask_token_id
                jobs.append((n, pos, token, masked))
    scores = np.zeros(len(sentences))
    batches = chunks(range(len(jobs)), batch_size)
    for done, batch in enumerate(batches):
        ids, mask = right_pad([jobs[j][3] for j in batch], padding_id(tokenizer))  # (B, T)
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits  # (B, T, V)
            rows = torch.arange(len(batch))
            positions = torch.tensor([jobs[j][1] for j in batch])
            logp = torch.log_softmax(logits[rows, positions].float(), dim=-1)  # (B, V)
            picked = logp[rows, torch.tensor([jobs[j][2] for j in batch])].cpu().numpy()
        for row, j in enumerate(batch):
            scores[jobs[j][0]] += picked[row]
        progress((done + 1) / len(batches), f"masked {min((done + 1) * batch_size, len(jobs))}/{len(jobs)} tokens")
    return scores


def next_token_log_probs(model, tokenizer, prompts: Sequence[str], token_ids: Sequence[int], *,
                         batch_size: int = 512) -> np.ndarray:
    """log p(token | prompt) for each prompt and candidate next token; (N prompts, K tokens).

    Left padding so the last column is every prompt's last token, with explicit position ids so a
    padded prompt sees the same positions as alone; only the last position's logits are computed."""
    encoded = [conditioned_ids(tokenizer, p) for p in prompts]
    out = np.zeros((len(prompts), len(token_ids)))
    device = _device(model)
    wanted = torch.tensor(list(token_ids), device=device)
    for batch in chunks(range(len(prompts)), batch_size):
        ids, mask = left_pad([encoded[i] for i in batch], padding_id(tokenizer))  # (B, T)
        positions = position_ids(mask)  # (B, T): 0.. from each prompt's first real token
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                           position_ids=positions.to(device), logits_to_keep=1).logits[:, -1]  # (B, V)
            out[batch] = torch.log_softmax(logits.float(), dim=-1)[:, wanted].cpu().numpy()
    return out


def masked_token_log_probs(model, tokenizer, texts: Sequence[str], token_ids: Sequence[int], *,
                           batch_size: int = 256) -> np.ndarray:
    """log p(token at the [MASK]) for texts holding exactly one mask token; (N texts, K tokens)."""
    device = _device(model)
    out = np.zeros((len(texts), len(token_ids)))
    wanted = torch.tensor(list(token_ids), device=device)
    for batch in chunks(range(len(texts)), batch_size):
        enc = tokenizer([texts[i] for i in batch], return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            logits = model(**enc).logits  # (B, T, V)
            where = (enc["input_ids"] == tokenizer.mask_token_id).nonzero()  # (B, 2): row, position
            picked = logits[where[:, 0], where[:, 1]]  # (B, V)
            out[batch] = torch.log_softmax(picked.float(), dim=-1)[:, wanted].cpu().numpy()
    return out


def sample_continuations(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 20,
                         seed: int = 0, temperature: float = 1.0, top_p: float = 0.9, batch_size: int = 16,
                         progress: Progress = no_progress) -> list[str]:
    """Sampled continuations (top-p), batched with left padding; the seed makes a run repeatable.

    Prompts keep the tokenizer's own special tokens; the tokenizer itself is never changed (thread-safe)."""
    device = _device(model)
    pad = padding_id(tokenizer)
    texts = [""] * len(prompts)
    batches = chunks(range(len(prompts)), batch_size)
    for done, batch in enumerate(batches):
        torch.manual_seed(seed + done)
        ids, mask = left_pad([text_ids(tokenizer, prompts[i]) for i in batch], pad)  # (B, T): generation appends
        with torch.inference_mode():
            out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=True,
                                 temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                                 pad_token_id=pad)
        for row, i in enumerate(batch):
            texts[i] = tokenizer.decode(out[row, ids.shape[1]:], skip_special_tokens=True)
        progress((done + 1) / len(batches), f"generated {min((done + 1) * batch_size, len(prompts))}/"
                                            f"{len(prompts)} continuations")
    return texts


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% by default); stays inside [0, 1] for small n."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_mean_ci(values: Sequence[float], *, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(1)
    return tuple(float(q) for q in np.quantile(means, [(1 - level) / 2, (1 + level) / 2]))


def bootstrap_gap_ci(a: Sequence[float], b: Sequence[float], *, n_boot: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its percentile bootstrap interval, resampling each group on its own."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) == 0 or len(b) == 0:
        return (float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    gaps = (a[rng.integers(0, len(a), (n_boot, len(a)))].mean(1)
            - b[rng.integers(0, len(b), (n_boot, len(b)))].mean(1))
    low, high = np.quantile(gaps, [(1 - level) / 2, (1 + level) / 2])
    return (float(a.mean() - b.mean()), float(low), float(high))
