"""Evaluation metrics, one decorated function each (`@register_metric`, as lm-evaluation-harness declares them):
token-weighted perplexity over sliding windows, sacreBLEU BLEU/chrF, ROUGE, exact match; and bootstrap intervals
(per model and paired between two models) from per-example statistics.

Adding a metric is one decorated function: the evaluation, the set checks, the CLI, the page and the figures
all read `METRICS`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from workbench.models.scoring import sequence_logprobs
from workbench.progress import Progress, no_progress

Aggregation = Callable[[np.ndarray], np.ndarray]  # (B, k) summed statistic rows -> (B,) corpus scores


# ---------------------------------------------------------------- what a metric reads and returns

@dataclass(frozen=True)
class MetricInputs:
    """What one model produced on a set of n examples; a metric reads the part its declaration asks for."""

    outputs: Sequence[str] = ()  # generated answers (when a chosen metric needs a reference)
    references: Sequence[str] = ()
    nll: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n,) summed NLL in nats (log-prob metrics)
    tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (n,) scored tokens


@dataclass(frozen=True)
class Scores:
    """One score of one model: per-example statistic rows (n, k), whose column sums the metric's aggregation
    turns into the corpus score, and the per-example score (n,) shown in the example table."""

    rows: np.ndarray
    per_example: np.ndarray


def example_means(values: Sequence[float]) -> Scores:
    """Per-example values whose corpus score is their mean (aggregate with `mean`)."""
    values = np.asarray(values, dtype=np.float64)
    return Scores(np.stack([values, np.ones_like(values)], axis=1), values)


@dataclass(frozen=True)
class Metric:
    """A registered metric: how to compute it and how to read it."""

    name: str
    compute: Callable[[MetricInputs], dict[str, Scores]]  # score key -> scores (rouge gives three keys)
    higher_is_better: bool
    needs_reference: bool  # True: compares generated answers with references; False: reads reference log-probs
    aggregation: Aggregation
    labels: dict[str, str]  # score key -> display label
    log_axis: bool = False  # figures draw it on a log scale (values of adapters can differ by orders)


METRICS: dict[str, Metric] = {}  # in registration order: the order scores are computed and shown


def register_metric(*, name: str, higher_is_better: bool, needs_reference: bool, label: str,
                    aggregation: Aggregation | None = None, labels: dict[str, str] | None = None,
                    log_axis: bool = False) -> Callable:
    """Declare a metric once. `aggregation` turns summed rows into corpus scores (default: `mean`); `labels`
    names each score key of a metric with several (default: `{name: label}`)."""

    def decorate(compute: Callable[[MetricInputs], dict[str, Scores]]) -> Callable:
        if name in METRICS:
            raise ValueError(f"metric {name!r} is already registered")
        METRICS[name] = Metric(name, compute, higher_is_better, needs_reference, aggregation or mean,
                               labels or {name: label}, log_axis)
        return compute

    return decorate


def unregister_metric(name: str) -> None:
    """Remove a metric (tests that register a toy one)."""
    METRICS.pop(name, None)


def metric_of(key: str) -> Metric | None:
    """The metric a score key (e.g. `rougeL`) belongs to."""
    return next((x for x in METRICS.values() if key in x.labels), None)


def score_label(key: str) -> str:
    """How figures and tables name a score key."""
    metric = metric_of(key)
    return metric.labels[key] if metric else key


def higher_is_better(key: str) -> bool:
    """Which way a score key improves (unknown keys: up)."""
    metric = metric_of(key)
    return metric.higher_is_better if metric else True


def compute_scores(names: Sequence[str], inputs: MetricInputs) -> dict[str, tuple[Statistic, np.ndarray]]:
    """Each chosen metric's scores, in registration order: score key -> (corpus statistic, per-example scores)."""
    out = {}
    for metric in (x for x in METRICS.values() if x.name in names):
        for key, scores in metric.compute(inputs).items():
            out[key] = (Statistic(key, scores.rows, metric.aggregation), scores.per_example)
    return out


# ---------------------------------------------------------------- aggregations

def mean(sums: np.ndarray) -> np.ndarray:
    """Rows (value, 1): the mean value."""
    return sums[:, 0] / np.maximum(sums[:, 1], 1e-12)


def exp_mean(sums: np.ndarray) -> np.ndarray:
    """Rows (nll, tokens): exp of the token-weighted mean NLL."""
    return np.exp(mean(sums))


def sacrebleu_metric(kind: str):
    """sacreBLEU's BLEU or chrF with default settings (13a tokenisation, exp smoothing; chrF6, beta 2)."""
    from sacrebleu.metrics import BLEU, CHRF

    return BLEU() if kind == "bleu" else CHRF()


def bleu_from_statistics(sums: np.ndarray) -> np.ndarray:
    """Rows of sacreBLEU BLEU statistics (hyp len, ref len, 4 correct, 4 total) -> corpus BLEU, public API."""
    from sacrebleu.metrics import BLEU

    bleu = BLEU()
    order = bleu.max_ngram_order
    return np.array([BLEU.compute_bleu(
        correct=[int(round(v)) for v in row[2:2 + order]], total=[int(round(v)) for v in row[2 + order:]],
        sys_len=int(round(row[0])), ref_len=int(round(row[1])), smooth_method=bleu.smooth_method,
        smooth_value=bleu.smooth_value, effective_order=bleu.effective_order, max_ngram_order=order).score
        for row in sums])


def chrf_from_statistics(sums: np.ndarray) -> np.ndarray:
    """Rows of sacreBLEU chrF statistics -> corpus chrF.

    sacreBLEU has no public way to score chrF from summed statistics; this is the method its own
    `significance._bootstrap_resample` calls, kept here in one place."""
    chrf = sacrebleu_metric("chrf")
    return np.array([chrf._compute_score_from_stats([int(round(v)) for v in row]).score for row in sums])


def sacrebleu_statistics(kind: str, hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per-example sufficient statistics (n, k) of sacreBLEU's BLEU or chrF.

    sacreBLEU extracts them only through this private method (its corpus_score sums them at once); kept here
    in one place."""
    rows = sacrebleu_metric(kind)._extract_corpus_statistics(list(hypotheses), [list(references)])
    return np.array(rows, dtype=np.float64)


def sentence_score(kind: str, hypothesis: str, reference: str) -> float:
    """Per-example BLEU (effective order, as sacreBLEU's sentence_bleu) or chrF, for the example table."""
    import sacrebleu

    if kind == "bleu":
        return float(sacrebleu.sentence_bleu(hypothesis, [reference]).score)
    return float(sacrebleu.sentence_chrf(hypothesis, [reference]).score)


def corpus_score(kind: str, hypotheses: list[str], references: list[str]) -> float:
    """Corpus-level sacreBLEU BLEU or chrF (0-100), one reference per hypothesis."""
    return float(sacrebleu_metric(kind).corpus_score(hypotheses, [references]).score)


# ---------------------------------------------------------------- exact match

def normalize_answer(text: str) -> str:
    """For exact match: Unicode NFKC, case-folded, punctuation removed, whitespace collapsed and trimmed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def exact_match(hypothesis: str, reference: str) -> float:
    """THE exact match of the workbench (SQuAD-style, on normalised text): 1.0 or 0.0."""
    return float(normalize_answer(hypothesis) == normalize_answer(reference))


# ---------------------------------------------------------------- the metrics

@register_metric(name="perplexity", higher_is_better=False, needs_reference=False, label="perplexity ↓",
                 aggregation=exp_mean, log_axis=True)
def perplexity(inputs: MetricInputs) -> dict[str, Scores]:
    """Token-weighted: exp(total NLL / total scored tokens), not a mean of per-example perplexities."""
    rows = np.stack([inputs.nll, inputs.tokens.astype(np.float64)], axis=1)  # (n, 2)
    return {"perplexity": Scores(rows, np.exp(inputs.nll / np.maximum(inputs.tokens, 1)))}


def _sacrebleu_scores(kind: str, inputs: MetricInputs) -> dict[str, Scores]:
    rows = sacrebleu_statistics(kind, inputs.outputs, inputs.references)
    per_example = [sentence_score(kind, o, r) for o, r in zip(inputs.outputs, inputs.references)]
    return {kind: Scores(rows, np.array(per_example))}


@register_metric(name="bleu", higher_is_better=True, needs_reference=True, label="BLEU (0-100)",
                 aggregation=bleu_from_statistics)
def bleu(inputs: MetricInputs) -> dict[str, Scores]:
    """sacreBLEU corpus BLEU; per example, sentence BLEU."""
    return _sacrebleu_scores("bleu", inputs)


@register_metric(name="chrf", higher_is_better=True, needs_reference=True, label="chrF (0-100)",
                 aggregation=chrf_from_statistics)
def chrf(inputs: MetricInputs) -> dict[str, Scores]:
    """sacreBLEU corpus chrF; per example, sentence chrF."""
    return _sacrebleu_scores("chrf", inputs)


@register_metric(name="rouge", higher_is_better=True, needs_reference=True, label="ROUGE F1",
                 labels={"rouge1": "ROUGE-1 F1", "rouge2": "ROUGE-2 F1", "rougeL": "ROUGE-L F1"})
def rouge(inputs: MetricInputs) -> dict[str, Scores]:
    """ROUGE-1/2/L F1 per example (rouge-score, no stemming); the corpus score is their mean."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    scores = [scorer.score(r, o) for o, r in zip(inputs.outputs, inputs.references)]  # score(target, prediction)
    return {k: example_means([s[k].fmeasure for s in scores]) for k in ("rouge1", "rouge2", "rougeL")}


@register_metric(name="exact_match", higher_is_better=True, needs_reference=True, label="exact match")
def exact_match_metric(inputs: MetricInputs) -> dict[str, Scores]:
    """Share of answers equal to their reference after `normalize_answer`."""
    return {"exact_match": example_means([exact_match(o, r) for o, r in zip(inputs.outputs, inputs.references)])}


# ---------------------------------------------------------------- perplexity inputs: windows and their NLL

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


def example_nll(model: torch.nn.Module, segments: list[Segment], n_examples: int, *, batch_size: int,
                pad_id: int, progress: Progress = no_progress) -> tuple[np.ndarray, np.ndarray]:
    """Summed negative log-likelihood (nats) and scored-token count per example, from `sequence_logprobs`
    (right padding, longest first: the sums do not depend on the batch size up to float rounding)."""
    nll = np.zeros(n_examples, dtype=np.float64)
    count = np.zeros(n_examples, dtype=np.int64)
    values = sequence_logprobs(model, [s.ids for s in segments], [s.score_from for s in segments],
                               batch_size=batch_size, pad_id=pad_id, progress=progress)
    for seg, logp in zip(segments, values):
        nll[seg.example] -= float(logp.sum())
        count[seg.example] += len(logp)
    return nll, count


# ---------------------------------------------------------------- statistics and bootstrap

@dataclass
class Statistic:
    """Per-example sufficient statistics (n, k) of one score and the aggregation that turns summed rows
    (B, k) into scores (B,): resampling examples and summing rows gives bootstrap replicates of the score."""

    key: str
    rows: np.ndarray  # (n, k)
    aggregate: Aggregation

    def score(self, sums: np.ndarray) -> np.ndarray:
        return self.aggregate(np.atleast_2d(sums))  # (B, k) -> (B,)

    def value(self) -> float:
        return float(self.score(self.rows.sum(0))[0])


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
