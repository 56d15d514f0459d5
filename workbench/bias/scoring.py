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
from workbench.models.scoring import sequence_logprobs, target_logprobs
from workbench.progress import Progress, no_progress


def conditioned_ids(tokenizer, text: str) -> list[int]:
    """A text's tokens after the token it is conditioned on (BOS, else EOS), so its first word gets a
    probability too."""
    return text_ids(tokenizer, text, prefix=bos_ids(tokenizer, eos_fallback=True))


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def context_limit(model: torch.nn.Module, tokenizer) -> int | None:
    """Most tokens one sequence may hold: the model's position table (learned positions index past it: an
    IndexError on CPU, a device assert on CUDA) and the tokenizer's own cap; None when neither says."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    limits = [getattr(config, "max_position_embeddings", 0) or 0, getattr(tokenizer, "model_max_length", 0) or 0]
    limits = [int(n) for n in limits if 0 < n < 1_000_000]  # tokenizers without a cap say 1e30
    return min(limits) if limits else None


def clamp_to_context(sequences: list[list[int]], limit: int | None, *, keep: str, what: str,
                     warnings: list[str] | None) -> list[list[int]]:
    """Sequences cut to `limit` tokens, keeping the `head` (with the last token, an encoder's [SEP]) or the
    `tail` (prompts whose last token matters); how many were cut is appended to `warnings`."""
    if limit is None or all(len(s) <= limit for s in sequences):
        return sequences
    cut = sum(len(s) > limit for s in sequences)
    if warnings is not None:
        warnings.append(f"{cut} {what} longer than the model's {limit}-token context were cut to {limit} tokens "
                        f"(kept their {'start' if keep != 'tail' else 'end'})")
    if keep == "tail":
        return [s[-limit:] for s in sequences]
    if keep == "head+last":
        return [s if len(s) <= limit else s[:limit - 1] + s[-1:] for s in sequences]
    return [s[:limit] for s in sequences]


def _masked_lm_head(model: torch.nn.Module) -> torch.nn.Module | None:
    """The prediction head of a `*ForMaskedLM` that holds its encoder plus one head module (BERT's `cls`,
    RoBERTa's `lm_head`), so it can run on the scored positions only; None for other layouts."""
    prefix = getattr(model, "base_model_prefix", "")
    heads = [child for name, child in model.named_children() if name != prefix]
    return heads[0] if hasattr(model, prefix) and len(heads) == 1 else None


def _masked_position_logits(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor,
                            positions: torch.Tensor) -> torch.Tensor:
    """Logits at one position per row, (B, V) float32: the encoder once, the head on B positions only (never
    (B, T, V)); a model of another layout falls back to its full forward."""
    rows = torch.arange(ids.shape[0], device=ids.device)
    head = _masked_lm_head(model)
    if head is None:
        return model(input_ids=ids, attention_mask=mask).logits[rows, positions].float()
    hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, d)
    return head(hidden[rows, positions]).float()  # (B, V)


def sentence_log_likelihoods(model, tokenizer, sentences: Sequence[str], *, batch_size: int = 16,
                             progress: Progress = no_progress, warnings: list[str] | None = None) -> np.ndarray:
    """Sum of log p(token_t | tokens_<t) over each whole sentence (nats), conditioned on BOS; (N,).

    `sequence_logprobs` pads on the right with a mask, so a sentence scores the same alone or in any batch
    (lm-eval-harness #704), and runs the LM head on scored positions only. Sentences longer than the context
    are cut to it (noted in `warnings`)."""
    ids = clamp_to_context([conditioned_ids(tokenizer, s) for s in sentences], context_limit(model, tokenizer),
                           keep="head", what="sentences", warnings=warnings)
    values = sequence_logprobs(model, ids, 1, batch_size=batch_size, pad_id=padding_id(tokenizer),
                               progress=progress)
    return np.array([v.sum() for v in values], dtype=np.float64)


def pseudo_log_likelihoods(model, tokenizer, sentences: Sequence[str], *, batch_size: int = 64,
                           progress: Progress = no_progress, warnings: list[str] | None = None) -> np.ndarray:
    """Masked-LM pseudo-log-likelihood: sum over tokens of log p(token_i | sentence with token i masked)
    (Salazar et al. 2020); special tokens ([CLS], [SEP]) are never masked or scored; sentences longer than
    the context are cut to it (noted in `warnings`); (N,)."""
    device = _device(model)
    encoded = clamp_to_context([tokenizer(s)["input_ids"] for s in sentences], context_limit(model, tokenizer),
                               keep="head+last", what="sentences", warnings=warnings)
    special = set(tokenizer.all_special_ids)
    jobs = []  # (sentence index, position, token id, ids with that position masked)
    for n, ids in enumerate(encoded):
        for pos, token in enumerate(ids):
            if token not in special:
                jobs.append((n, pos, token, ids[:pos] + [tokenizer.mask_token_id] + ids[pos + 1:]))
    scores = np.zeros(len(sentences))
    batches = chunks(range(len(jobs)), batch_size)
    for done, batch in enumerate(batches):
        ids, mask = right_pad([jobs[j][3] for j in batch], padding_id(tokenizer))  # (B, T)
        with torch.inference_mode():
            positions = torch.tensor([jobs[j][1] for j in batch], device=device)
            logits = _masked_position_logits(model, ids.to(device), mask.to(device), positions)  # (B, V)
            targets = torch.tensor([jobs[j][2] for j in batch], device=device)
            picked = target_logprobs(logits, targets).cpu().numpy()  # (B,)
        for row, j in enumerate(batch):
            scores[jobs[j][0]] += picked[row]
        progress((done + 1) / len(batches), f"masked {min((done + 1) * batch_size, len(jobs))}/{len(jobs)} tokens")
    return scores


def next_token_log_probs(model, tokenizer, prompts: Sequence[str], token_ids: Sequence[int], *,
                         batch_size: int = 512, warnings: list[str] | None = None) -> np.ndarray:
    """log p(token | prompt) for each prompt and candidate next token; (N prompts, K tokens).

    Left padding so the last column is every prompt's last token, with explicit position ids so a
    padded prompt sees the same positions as alone; only the last position's logits are computed.
    Prompts longer than the context keep their end (noted in `warnings`)."""
    encoded = clamp_to_context([conditioned_ids(tokenizer, p) for p in prompts], context_limit(model, tokenizer),
                               keep="tail", what="prompts", warnings=warnings)
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
                           batch_size: int = 256, warnings: list[str] | None = None) -> np.ndarray:
    """log p(token at the [MASK]) for texts holding one mask token; (N texts, K tokens). Texts longer than the
    context are cut to it (noted in `warnings`); a text whose mask was cut away scores NaN."""
    device = _device(model)
    encoded = clamp_to_context([tokenizer(t)["input_ids"] for t in texts], context_limit(model, tokenizer),
                               keep="head+last", what="texts", warnings=warnings)
    out = np.full((len(texts), len(token_ids)), np.nan)
    wanted = torch.tensor(list(token_ids), device=device)
    for batch in chunks(range(len(texts)), batch_size):
        ids, mask = right_pad([encoded[i] for i in batch], padding_id(tokenizer))  # (B, T)
        is_mask = ids == tokenizer.mask_token_id  # (B, T)
        has = is_mask.any(1)  # (B,)
        with torch.inference_mode():
            logits = _masked_position_logits(model, ids.to(device), mask.to(device),
                                             is_mask.int().argmax(1).to(device))  # (B, V)
            picked = torch.log_softmax(logits, dim=-1)[:, wanted].cpu().numpy()  # (B, K)
        out[[i for i, ok in zip(batch, has.tolist()) if ok]] = picked[has.numpy()]
    if warnings is not None and np.isnan(out).any():
        warnings.append(f"{int(np.isnan(out[:, 0]).sum())} texts lost their [MASK] to the cut and score nothing")
    return out


def sample_continuations(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 20,
                         seed: int = 0, temperature: float = 1.0, top_p: float = 0.9, batch_size: int = 16,
                         progress: Progress = no_progress, warnings: list[str] | None = None) -> list[str]:
    """Sampled continuations (top-p), batched with left padding; the seed makes a run repeatable.

    Prompts keep the tokenizer's own special tokens, and their end when prompt plus continuation would pass the
    context (noted in `warnings`); the tokenizer itself is never changed (thread-safe)."""
    device = _device(model)
    pad = padding_id(tokenizer)
    limit = context_limit(model, tokenizer)
    room = None if limit is None else max(limit - max_new_tokens, 1)
    max_new_tokens = max_new_tokens if limit is None else min(max_new_tokens, limit - room)
    encoded = clamp_to_context([text_ids(tokenizer, p) for p in prompts], room, keep="tail", what="prompts",
                               warnings=warnings)
    texts = [""] * len(prompts)
    batches = chunks(range(len(prompts)), batch_size)
    for done, batch in enumerate(batches):
        torch.manual_seed(seed + done)
        ids, mask = left_pad([encoded[i] for i in batch], pad)  # (B, T): generation appends
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
