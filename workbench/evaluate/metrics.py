"""Evaluation metrics: token-weighted perplexity over sliding windows, sacreBLEU BLEU/chrF, ROUGE, exact
match, and bootstrap intervals (per model and paired between two models) from per-example statistics."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

REFERENCE_METRICS = ("bleu", "chrf", "rouge", "exact_match")
METRICS = ("perplexity",) + REFERENCE_METRICS
LM_HEAD_CHUNK = 1024  # positions per lm_head call: bounds the (positions, vocab) logits block in memory


# ---------------------------------------------------------------- perplexity: spans, windows, batches

@dataclass(frozen=True)
class Segment:
    """One model input: `ids` of length T; tokens at positions >= `score_from` are scored (each predicted
    from the positions before it); `example` is the index of the example it belongs to."""

    ids: tuple[int, ...]
    score_from: int
    example: int


def segments_for(ids: list[int], score_from: int, example: int, window: int, stride: int,
                 keep_first: bool = False) -> list[Segment]:
    """Cut one token sequence into model inputs of at most `window` tokens.

    Short sequences give one segment. Longer ones slide by `stride`: each window scores only the tokens
    the previous window did not, so every token is scored exactly once, with at least `window - stride`
    tokens of context (except near the start). Position 0 is never scored (nothing predicts it).
    `keep_first`: later windows start with ids[0] (the BOS) and then `window - 1` tokens, so every window
    is conditioned on BOS as the first does (models lean on the first token as an attention sink).
    """
    if stride < 1 or stride >= window - int(keep_first):  # each window needs context for its first scored token
        raise ValueError(f"stride must be in 1..window-{1 + int(keep_first)}, got stride={stride}, window={window}")
    score_from = max(score_from, 1)
    n = len(ids)
    if n <= window:
        return [Segment(tuple(ids), score_from, example)] if score_from < n else []
    out, prev_end, begin = [], 0, 0
    while prev_end < n:
        prefix = ids[:1] if keep_first and begin > 0 else []
        end = min(begin + window - len(prefix), n)
        first = max(prev_end, score_from, begin + 1)  # global position of the first token scored here
        if first < end:
            out.append(Segment(tuple(prefix + ids[begin:end]), first - begin + len(prefix), example))
        prev_end = end
        begin += stride
    return out


def _target_logprobs(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor,
                     predict: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the next token at the positions where `predict` (B, T) is true, shape (M,).

    Runs the decoder once, then the LM head only on the positions that are scored (padding and context
    positions never reach the (positions, vocab) logits)."""
    hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, d)
    rows, cols = predict[:, :-1].nonzero(as_tuple=True)  # position t predicts token t + 1
    targets = ids[rows, cols + 1]  # (M,)
    head = model.get_output_embeddings()
    picked = []
    for start in range(0, rows.numel(), LM_HEAD_CHUNK):
        r, c = rows[start:start + LM_HEAD_CHUNK], cols[start:start + LM_HEAD_CHUNK]
        logits = head(hidden[r, c]).float()  # (chunk, V)
        picked.append(torch.log_softmax(logits, dim=-1).gather(1, targets[start:start + LM_HEAD_CHUNK, None])[:, 0])
    return torch.cat(picked) if picked else torch.zeros(0)


def score_segments(model: torch.nn.Module, segments: list[Segment], n_examples: int, *, batch_size: int,
                   pad_id: int, progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Summed negative log-likelihood (nats) and scored-token count per example, batched by length.

    Right padding with an attention mask; padded positions are never scored, so the sums do not depend
    on the batch size (up to float rounding)."""
    nll = np.zeros(n_examples, dtype=np.float64)
    count = np.zeros(n_examples, dtype=np.int64)
    order = sorted(range(len(segments)), key=lambda i: -len(segments[i].ids))  # little padding per batch
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        batch = [segments[i] for i in order[start:start + batch_size]]
        width = len(batch[0].ids)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        predict = torch.zeros((len(batch), width), dtype=torch.bool)  # True at t: t predicts token t + 1
        for row, seg in enumerate(batch):
            ids[row, :len(seg.ids)] = torch.tensor(seg.ids)
            mask[row, :len(seg.ids)] = 1
            predict[row, seg.score_from - 1:len(seg.ids) - 1] = True
        with torch.inference_mode():
            logp = _target_logprobs(model, ids.to(device), mask.to(device), predict.to(device)).double().cpu()
        per_row = predict[:, :-1].sum(1).tolist()
        for seg, chunk in zip(batch, torch.split(logp, per_row)):
            nll[seg.example] -= float(chunk.sum())
            count[seg.example] += chunk.numel()
        if progress is not None:
            progress(len(batch))
    return nll, count


# ---------------------------------------------------------------- reference metrics

def normalize_answer(text: str) -> str:
    """For exact match: Unicode NFKC, case-folded, punctuation removed, whitespace collapsed and trimmed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def exact_match(hypothesis: str, reference: str) -> float:
    return float(normalize_answer(hypothesis) == normalize_answer(reference))


def _sacrebleu(kind: str):
    from sacrebleu.metrics import BLEU, CHRF

    return BLEU() if kind == "bleu" else CHRF()


def corpus_score(kind: str, hypotheses: list[str], references: list[str]) -> float:
    """Corpus-level sacreBLEU BLEU or chrF (0-100), one reference per hypothesis."""
    return float(_sacrebleu(kind).corpus_score(hypotheses, [references]).score)


def sentence_score(kind: str, hypothesis: str, reference: str) -> float:
    """Per-example BLEU (effective order, as sacreBLEU's sentence_bleu) or chrF, for the example table."""
    import sacrebleu

    if kind == "bleu":
        return float(sacrebleu.sentence_bleu(hypothesis, [reference]).score)
    return float(sacrebleu.sentence_chrf(hypothesis, [reference]).score)


def rouge_f1(hypotheses: list[str], references: list[str]) -> dict[str, np.ndarray]:
    """ROUGE-1/2/L F1 per example (rouge-score, no stemming); the corpus score is their mean."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    scores = [scorer.score(ref, hyp) for hyp, ref in zip(hypotheses, references)]  # score(target, prediction)
    return {k: np.array([s[k].fmeasure for s in scores]) for k in ("rouge1", "rouge2", "rougeL")}


# ---------------------------------------------------------------- statistics and bootstrap

@dataclass
class Statistic:
    """Per-example sufficient statistics (n, k) of one score, and how to turn summed rows (B, k) into
    scores (B,): resampling examples and summing rows gives bootstrap replicates of the corpus score."""

    key: str
    rows: np.ndarray  # (n, k)
    kind: str  # mean | perplexity | bleu | chrf

    def score(self, sums: np.ndarray) -> np.ndarray:
        sums = np.atleast_2d(sums)  # (B, k)
        if self.kind == "mean":
            return sums[:, 0] / np.maximum(sums[:, 1], 1e-12)
        if self.kind == "perplexity":
            return np.exp(sums[:, 0] / np.maximum(sums[:, 1], 1e-12))
        metric = _sacrebleu(self.kind)
        return np.array([metric._compute_score_from_stats([int(round(v)) for v in row]).score for row in sums])

    def value(self) -> float:
        return float(self.score(self.rows.sum(0))[0])


def mean_statistic(key: str, values: np.ndarray) -> Statistic:
    values = np.asarray(values, dtype=np.float64)
    return Statistic(key, np.stack([values, np.ones_like(values)], axis=1), "mean")


def perplexity_statistic(nll: np.ndarray, count: np.ndarray) -> Statistic:
    """Token-weighted: exp(total NLL / total scored tokens), not a mean of per-example perplexities."""
    return Statistic("perplexity", np.stack([nll, count.astype(np.float64)], axis=1), "perplexity")


def sacrebleu_statistic(kind: str, hypotheses: list[str], references: list[str]) -> Statistic:
    rows = np.array(_sacrebleu(kind)._extract_corpus_statistics(hypotheses, [references]), dtype=np.float64)
    return Statistic(kind, rows, kind)


def resample_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """How often each of n examples is drawn in each bootstrap resample, shape (resamples, n)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def bootstrap_interval(stat: Statistic, counts: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the corpus score."""
    replicates = stat.score(counts @ stat.rows)  # (B,)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(replicates, tail)), float(np.percentile(replicates, 100 - tail))


def paired_bootstrap(a: Statistic, b: Statistic, counts: np.ndarray,
                     level: float = 0.95) -> tuple[float, float, float]:
    """Difference a - b on the same examples, with a paired percentile interval (same resamples for both)."""
    diff = a.score(counts @ a.rows) - b.score(counts @ b.rows)  # (B,)
    tail = (1 - level) / 2 * 100
    return a.value() - b.value(), float(np.percentile(diff, tail)), float(np.percentile(diff, 100 - tail))
