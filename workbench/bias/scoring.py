"""Scoring primitives the probes are built on: sentence log-likelihoods (causal), pseudo-log-likelihoods
(masked), next-token probabilities, sampled continuations, and the interval statistics for their summaries.

Every model function takes a model and its tokenizer (not a LoadedModel) so tests can hand in a tiny
randomly initialised model; callers hold the model lock."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

Progress = Callable[[float, str], None]


def _quiet(fraction: float, message: str) -> None:
    pass


def _batches(order: Sequence[int], size: int) -> list[list[int]]:
    return [list(order[i:i + size]) for i in range(0, len(order), size)]


def _pad_id(tokenizer) -> int:
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else (tokenizer.eos_token_id or 0))


def condition_token(tokenizer) -> int | None:
    """The token a sentence is conditioned on so its first word gets a probability too (BOS, else EOS)."""
    for candidate in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return None


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def sentence_log_likelihoods(model, tokenizer, sentences: Sequence[str], *, batch_size: int = 16,
                             progress: Progress = _quiet) -> np.ndarray:
    """Sum of log p(token_t | tokens_<t) over each whole sentence (nats), conditioned on BOS; (N,).

    Right padding with an attention mask: real tokens never attend to the pads after them and keep
    positions 0..n-1, so a sentence scores the same alone or in any batch (lm-eval-harness #704).
    Sentences are sorted by length so a batch carries little padding."""
    first = condition_token(tokenizer)
    encoded = [([first] if first is not None else []) + tokenizer(s, add_special_tokens=False)["input_ids"]
               for s in sentences]
    scores = np.zeros(len(sentences))
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    batches = _batches(order, batch_size)
    device = _device(model)
    for done, batch in enumerate(batches):
        width = max(len(encoded[i]) for i in batch)
        ids = torch.full((len(batch), width), _pad_id(tokenizer), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            ids[row, :len(encoded[i])] = torch.tensor(encoded[i])
            mask[row, :len(encoded[i])] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits  # (B, T, V)
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, T-1, V): predicts tokens 1..T-1
            target = logp.gather(-1, ids[:, 1:, None].to(device))[..., 0]  # (B, T-1)
            total = (target * mask[:, 1:].to(device)).sum(-1)  # padding never counts
        scores[batch] = total.cpu().numpy()
        progress((done + 1) / len(batches), f"scored {min((done + 1) * batch_size, len(order))}/{len(order)}")
    return scores


def pseudo_log_likelihoods(model, tokenizer, sentences: Sequence[str], *, batch_size: int = 64,
                           progress: Progress = _quiet) -> np.ndarray:
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
    batches = _batches(range(len(jobs)), batch_size)
    for done, batch in enumerate(batches):
        width = max(len(jobs[j][3]) for j in batch)
        ids = torch.full((len(batch), width), _pad_id(tokenizer), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, j in enumerate(batch):
            ids[row, :len(jobs[j][3])] = torch.tensor(jobs[j][3])
            mask[row, :len(jobs[j][3])] = 1
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
    first = condition_token(tokenizer)
    encoded = [([first] if first is not None else []) + tokenizer(p, add_special_tokens=False)["input_ids"]
               for p in prompts]
    out = np.zeros((len(prompts), len(token_ids)))
    device = _device(model)
    wanted = torch.tensor(list(token_ids), device=device)
    for batch in _batches(range(len(prompts)), batch_size):
        width = max(len(encoded[i]) for i in batch)
        ids = torch.full((len(batch), width), _pad_id(tokenizer), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(batch):
            ids[row, width - len(encoded[i]):] = torch.tensor(encoded[i])
            mask[row, width - len(encoded[i]):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, T): 0.. from each prompt's first real token
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
    for batch in _batches(range(len(texts)), batch_size):
        enc = tokenizer([texts[i] for i in batch], return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            logits = model(**enc).logits  # (B, T, V)
            where = (enc["input_ids"] == tokenizer.mask_token_id).nonzero()  # (B, 2): row, position
            picked = logits[where[:, 0], where[:, 1]]  # (B, V)
            out[batch] = torch.log_softmax(picked.float(), dim=-1)[:, wanted].cpu().numpy()
    return out


def sample_continuations(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 20,
                         seed: int = 0, temperature: float = 1.0, top_p: float = 0.9, batch_size: int = 16,
                         progress: Progress = _quiet) -> list[str]:
    """Sampled continuations (top-p), batched with left padding; the seed makes a run repeatable."""
    device = _device(model)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation appends on the right, so pads go on the left
    texts = [""] * len(prompts)
    batches = _batches(range(len(prompts)), batch_size)
    try:
        for done, batch in enumerate(batches):
            torch.manual_seed(seed + done)
            enc = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True).to(device)
            with torch.inference_mode():
                out = model.generate(**enc, do_sample=True, temperature=temperature, top_p=top_p,
                                     max_new_tokens=max_new_tokens, pad_token_id=_pad_id(tokenizer))
            for row, i in enumerate(batch):
                texts[i] = tokenizer.decode(out[row, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            progress((done + 1) / len(batches), f"generated {min((done + 1) * batch_size, len(prompts))}/"
                                                f"{len(prompts)} continuations")
    finally:
        tokenizer.padding_side = side
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
