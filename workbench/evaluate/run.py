"""Evaluate a base model and its adapters on one evaluation set: perplexity, BLEU, chrF, ROUGE, exact match,
with bootstrap intervals per model and paired-bootstrap intervals on the differences between models."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import torch
from transformers import StoppingCriteria

from workbench.errors import InvalidSetting, WorkbenchError
from workbench.evaluate import metrics as m
from workbench.evaluate.sets import EvalSet, check_metrics
from workbench.models import LoadedModel, adapters, endpoint
from workbench.models.batching import left_pad, length_batches, padding_id
from workbench.models.prompts import bos_ids, chat_prompt, text_ids
from workbench.progress import Progress


class EvaluationCancelled(WorkbenchError):
    """The user stopped an evaluation before it finished."""


@dataclass(frozen=True)
class EvalOptions:
    """How to run an evaluation; every field has a default that suits the embedded models on a CPU."""

    batch_size: int = field(default=8, metadata={"help": "Sequences per forward pass; scores do not depend on it."})
    chat: bool = field(default=False, metadata={"help": "Wrap prompts in the model's chat template."})
    add_bos: bool = field(default=True, metadata={
        "help": "Condition on the tokenizer's BOS token (SmolLM2: <|im_start|>), which it does not add itself."})
    max_new_tokens: int = field(default=0, metadata={
        "help": "Tokens to generate per prompt; 0: the longest reference plus 8, at most 256."})
    stop_at_newline: bool = field(default=True, metadata={
        "help": "Cut generated answers at their first line break (prompt sets with one-line answers)."})
    window: int = field(default=0, metadata={"help": "Perplexity window in tokens; 0: the model's context."})
    stride: int = field(default=0, metadata={"help": "Sliding-window stride; 0: half the window."})
    resamples: int = field(default=1000, metadata={"help": "Bootstrap resamples for the 95% intervals."})
    seed: int = field(default=0, metadata={"help": "Seed of the bootstrap resampling."})

    def __post_init__(self) -> None:
        for name, low in (("batch_size", 1), ("max_new_tokens", 0), ("window", 0), ("stride", 0),
                          ("resamples", 10)):
            if getattr(self, name) < low:
                raise InvalidSetting(f"`{name}` must be at least {low}, got {getattr(self, name)}", field=name)
        if self.window and self.stride >= self.window:
            raise InvalidSetting(f"`stride` ({self.stride}) must be smaller than `window` ({self.window}) so every "
                                 "window keeps context for its first scored token", field="stride")
        if self.window == 1:
            raise InvalidSetting("`window` must be at least 2 tokens", field="window")


@dataclass
class ModelResult:
    """One model's scores on a set: corpus scores, 95% intervals, per-example rows and the statistics
    behind them (kept so two models can be compared with a paired bootstrap)."""

    label: str  # "base" or the adapter's name
    adapter: str | None  # adapter folder
    scores: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    per_example: pd.DataFrame  # one row per example: line, output, per-example scores
    statistics: dict[str, m.Statistic] = field(repr=False)
    seconds: float = 0.0
    tokens_scored: int = 0
    warnings: list[str] = field(default_factory=list)  # what was changed to fit the model (lengths cut), shown
    endpoint: dict | None = None  # an OpenAI-compatible endpoint's spec (no key, only its variable's name)

    def summary(self) -> dict:
        """The CLI's JSON object: score keys, n_examples, the interval of each score, and any warnings."""
        return {"model": self.label, "adapter": self.adapter, **({"endpoint": self.endpoint} if self.endpoint else {}),
                **self.scores, "n_examples": len(self.per_example),
                "ci95": {k: list(v) for k, v in self.intervals.items()}, "seconds": round(self.seconds, 3),
                **({"warnings": self.warnings} if self.warnings else {})}


@dataclass
class EvaluationReport:
    dataset: EvalSet
    metrics: list[str]
    options: EvalOptions
    base_model: str
    results: list[ModelResult]
    comparisons: pd.DataFrame  # model, against, key, difference, low, high, clear, better
    device: str = ""  # where the base ran ("cpu", "cuda:0"), as LoadedModel.info says; "" when unknown
    dtype: str = ""   # its precision ("float32", "bfloat16")

    @property
    def warnings(self) -> list[str]:
        """Every model's warnings once each, in order: what a page shows above the scores."""
        return list(dict.fromkeys(w for r in self.results for w in r.warnings))


# ---------------------------------------------------------------- tokenisation shared by both paths

def condition_ids(loaded: LoadedModel, options: EvalOptions) -> list[int]:
    """What plain text is conditioned on: [BOS] when asked for and the tokenizer has one (no EOS fallback)."""
    return bos_ids(loaded.tokenizer) if options.add_bos else []


def prompt_ids(loaded: LoadedModel, prompt: str, options: EvalOptions) -> list[int]:
    """The tokens a model reads before answering: BOS + prompt, or the chat template with its generation cue."""
    if options.chat:  # the template brings its own <|im_start|>
        return text_ids(loaded.tokenizer, chat_prompt(loaded, prompt), prefix=[])
    return text_ids(loaded.tokenizer, prompt, prefix=condition_ids(loaded, options))


def continuation_ids(loaded: LoadedModel, prompt: str, reference: str, options: EvalOptions) -> list[int]:
    """Reference tokens as they follow the prompt (a space between them in plain mode unless one is there)."""
    joiner = "" if options.chat or prompt[-1:].isspace() or reference[:1].isspace() else " "
    return loaded.tokenizer(joiner + reference, add_special_tokens=False)["input_ids"]


def _window_and_stride(loaded: LoadedModel, options: EvalOptions, warnings: list[str]) -> tuple[int, int]:
    """The perplexity window and stride, the window clamped to the model's context (noted in `warnings`)."""
    context = loaded.info.context_length
    window = options.window or context or 2048
    if context and window > context:
        warnings.append(f"perplexity window {window} is longer than the model's {context}-token context; "
                        f"used {context}")
        window = context
    stride = options.stride or max(window // 2, 1)
    if stride >= window - 1:
        warnings.append(f"stride {stride} does not fit the {window}-token window; used {window // 2}")
        stride = window // 2
    return window, stride


def _segments(loaded: LoadedModel, dataset: EvalSet, options: EvalOptions, warnings: list[str]) -> list[m.Segment]:
    window, stride = _window_and_stride(loaded, options, warnings)
    bos = condition_ids(loaded, options)
    out = []
    for i, e in enumerate(dataset.examples):
        if e.text is not None:
            ids = text_ids(loaded.tokenizer, e.text, prefix=bos)
            out += m.segments_for(ids, 1, i, window, stride, keep_first=bool(bos))
        else:
            context = prompt_ids(loaded, e.prompt, options)
            ids = context + continuation_ids(loaded, e.prompt, e.reference, options)
            out += m.segments_for(ids, len(context), i, window, stride, keep_first=ids[:1] == bos)
    return out


# ---------------------------------------------------------------- generation

@lru_cache(maxsize=4)  # keyed by the tokenizer object itself (held, so its id is never reused); a few models
def _newline_tables(tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Per vocabulary id: does its text hold a line break; is it whitespace only. Both (V,), cached."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return torch.tensor(["\n" in t for t in texts]), torch.tensor([not t.strip() for t in texts])


class FirstLineDone(StoppingCriteria):
    """Stops a row once it has written some text and then a line break (leading blank lines don't count)."""

    def __init__(self, tokenizer, prompt_width: int) -> None:
        self.newline, self.blank = _newline_tables(tokenizer)
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        new = input_ids[:, self.prompt_width:].cpu()  # (B, generated so far)
        text_before = (~self.blank[new]).cumsum(1) - (~self.blank[new]).long() > 0  # (B, t): text before t
        done = (self.newline[new] & (text_before | ~self.blank[new])).any(1)  # (B,)
        return done.to(input_ids.device)


def generate_answers(loaded: LoadedModel, prompts: list[list[int]], *, max_new_tokens: int, batch_size: int,
                     stop_at_newline: bool, step: Callable[[int], None] | None = None) -> list[str]:
    """Greedy answers for tokenised prompts, batched with left padding (sorted by length to pad little)."""
    tok = loaded.tokenizer
    pad = padding_id(tok)
    answers: list[str] = [""] * len(prompts)
    for rows in length_batches([len(p) for p in prompts], batch_size, longest_first=True):
        ids, mask = left_pad([prompts[i] for i in rows], pad)  # (B, T)
        width = ids.shape[1]
        extra = {"stopping_criteria": [FirstLineDone(tok, width)]} if stop_at_newline else {}
        with torch.inference_mode():
            out = loaded.model.generate(input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device),
                                        max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad,
                                        **extra)
        for r, i in enumerate(rows):
            text = tok.decode(out[r, width:], skip_special_tokens=True).strip()
            answers[i] = text.split("\n", 1)[0].strip() if stop_at_newline else text
        if step is not None:
            step(len(rows))
    return answers


# ---------------------------------------------------------------- one model, several models

def _answer_budget(loaded: LoadedModel, references: list[str], options: EvalOptions) -> int:
    """Tokens to generate: as asked, else the longest reference plus 8, at most 256."""
    longest = max(len(text_ids(loaded.tokenizer, r, prefix=[])) for r in references)
    return options.max_new_tokens or min(longest + 8, 256)


def _fit_generation(loaded: LoadedModel, prompts: list[list[int]], budget: int,
                    warnings: list[str]) -> tuple[list[list[int]], int]:
    """Prompts and answer budget that fit the model's context together: the budget at most half of it, longer
    prompts keep their end (the question sits last); each change is noted in `warnings`."""
    context = loaded.info.context_length
    if not context:
        return prompts, budget
    if budget > context // 2:
        warnings.append(f"answers cut to {context // 2} new tokens, half the model's {context}-token context")
        budget = context // 2
    room = context - budget
    cut = sum(len(p) > room for p in prompts)
    if cut:
        warnings.append(f"{cut} prompts longer than {room} tokens (the {context}-token context less {budget} "
                        "for the answer) keep only their last tokens")
    return [p[-room:] for p in prompts], budget


def _model_inputs(loaded: LoadedModel, dataset: EvalSet, chosen: list[m.Metric], segments: list[m.Segment],
                  options: EvalOptions, table: pd.DataFrame, step: Callable[[int], None],
                  warnings: list[str]) -> m.MetricInputs:
    """Run the model for what the chosen metrics read: reference NLL (log-prob metrics) and generated answers
    (reference metrics); the per-example columns of both go into `table`."""
    nll = count = np.zeros(0)
    if any(not x.needs_reference for x in chosen):
        done = [0]

        def advance(fraction: float, message: str) -> None:  # sequence_logprobs reports fractions; step counts
            now = round(fraction * len(segments))
            step(now - done[0])
            done[0] = now

        nll, count = m.example_nll(loaded.model, segments, len(dataset), batch_size=options.batch_size,
                                   pad_id=padding_id(loaded.tokenizer), progress=advance)
        table["tokens"], table["nll"] = count, nll
    outputs, references = [], []
    if any(x.needs_reference for x in chosen):
        references = [e.reference for e in dataset.examples]
        prompts, budget = _fit_generation(loaded, [prompt_ids(loaded, e.prompt, options) for e in dataset.examples],
                                          _answer_budget(loaded, references, options), warnings)
        outputs = generate_answers(loaded, prompts, max_new_tokens=budget, batch_size=options.batch_size,
                                   stop_at_newline=options.stop_at_newline, step=step)
        table["output"] = outputs
    return m.MetricInputs(outputs=outputs, references=references, nll=nll, tokens=count)


def evaluate(loaded: LoadedModel, adapter, dataset: EvalSet, metrics: list[str],
             options: EvalOptions = EvalOptions(), progress: Progress | None = None,
             should_stop: Callable[[], bool] | None = None, counts: np.ndarray | None = None) -> ModelResult:
    """Score one model (the base, or `adapter` over it) on `dataset` with the chosen metrics."""
    check_metrics(dataset, metrics)
    if loaded.kind != "causal":
        raise InvalidSetting(f"{loaded.info.name} is an {loaded.kind} model; evaluation needs a causal LM",
                             field="model")
    started = time.perf_counter()
    chosen = [x for x in m.METRICS.values() if x.name in metrics]
    warnings: list[str] = []
    with adapters.use_adapter(loaded, adapter) as active:
        label = active or "base"
        needs_logprobs = any(not x.needs_reference for x in chosen)
        segments = _segments(loaded, dataset, options, warnings) if needs_logprobs else []
        total = len(segments) + (len(dataset) if any(x.needs_reference for x in chosen) else 0)
        done = [0]

        def step(units: int) -> None:
            done[0] += units
            if progress is not None:
                progress(done[0] / max(total, 1), f"{label}: {done[0]} of {total} sequences")
            if should_stop is not None and should_stop():
                raise EvaluationCancelled(f"cancelled while evaluating {label} ({done[0]} of {total} done)")

        table = pd.DataFrame({"line": [e.line for e in dataset.examples]})
        inputs = _model_inputs(loaded, dataset, chosen, segments, options, table, step, warnings)
    stats = {}
    for key, (stat, per_example) in m.compute_scores(metrics, inputs).items():
        stats[key] = stat
        table[key] = per_example
    if counts is None:
        counts = m.resample_counts(len(dataset), options.resamples, options.seed)
    return ModelResult(label=label, adapter=None if adapter is None else str(getattr(adapter, "path", adapter)),
                       scores={k: s.value() for k, s in stats.items()},
                       intervals={k: m.bootstrap_interval(s, counts) for k, s in stats.items()},
                       per_example=table, statistics=stats, seconds=time.perf_counter() - started,
                       tokens_scored=int(inputs.tokens.sum()), warnings=warnings)


def _endpoint_answers(spec: endpoint.EndpointSpec, prompts: list[str], *, max_new_tokens: int,
                      stop_at_newline: bool, step: Callable[[int], None]) -> list[str]:
    """Greedy answers from an endpoint, one chat message per prompt, up to the endpoint's concurrency at once.
    `step` runs on the calling thread (a page's progress bar lives there); if it raises, pending requests are
    dropped."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    settings = endpoint.Greedy(max_new_tokens=max_new_tokens)
    answers = [""] * len(prompts)
    with ThreadPoolExecutor(max_workers=spec.concurrency) as pool:
        futures = {pool.submit(endpoint.chat, spec, [{"role": "user", "content": p}], settings): i
                   for i, p in enumerate(prompts)}
        try:
            for future in as_completed(futures):
                text = future.result().text.strip()
                answers[futures[future]] = text.split("\n", 1)[0].strip() if stop_at_newline else text
                step(1)
        finally:
            for future in futures:
                future.cancel()
    return answers


def evaluate_endpoint(loaded: LoadedModel, spec: endpoint.EndpointSpec, dataset: EvalSet, metrics: list[str],
                      options: EvalOptions = EvalOptions(), progress: Progress | None = None,
                      should_stop: Callable[[], bool] | None = None,
                      counts: np.ndarray | None = None) -> ModelResult:
    """Score an OpenAI-compatible endpoint's greedy answers on the reference metrics (BLEU, chrF, ROUGE, exact
    match). Log-prob metrics are skipped with a warning: chat completions return log-probabilities of the
    tokens the server wrote, not of the reference. `loaded` only sizes the answer budget, as for local models."""
    check_metrics(dataset, metrics)
    started = time.perf_counter()
    scored = [x.name for x in m.METRICS.values() if x.name in metrics and x.needs_reference]
    skipped = [x for x in metrics if x not in scored]
    if not scored:
        raise InvalidSetting(f"the endpoint {spec.label} can be scored only on reference metrics (BLEU, chrF, "
                             f"ROUGE, exact match), not on {', '.join(skipped)}", field="metrics")
    warnings = [f"{', '.join(skipped)} skipped for {spec.label}: a chat endpoint does not return the "
                "log-probabilities of the reference"] if skipped else []
    if not options.chat:
        warnings.append(f"{spec.label} gets each prompt as a chat message (the chat completions API); "
                        "local models read it as plain text unless 'Chat template' is on")
    references = [e.reference for e in dataset.examples]
    done = [0]

    def step(units: int) -> None:
        done[0] += units
        if progress is not None:
            progress(done[0] / len(dataset), f"{spec.label}: {done[0]} of {len(dataset)} answers")
        if should_stop is not None and should_stop():
            raise EvaluationCancelled(f"cancelled while asking {spec.label} ({done[0]} of {len(dataset)} done)")

    outputs = _endpoint_answers(spec, [e.prompt for e in dataset.examples],
                                max_new_tokens=_answer_budget(loaded, references, options),
                                stop_at_newline=options.stop_at_newline, step=step)
    table = pd.DataFrame({"line": [e.line for e in dataset.examples], "output": outputs})
    stats = {}
    for key, (stat, per_example) in m.compute_scores(scored, m.MetricInputs(outputs, references)).items():
        stats[key] = stat
        table[key] = per_example
    if counts is None:
        counts = m.resample_counts(len(dataset), options.resamples, options.seed)
    return ModelResult(label=spec.label, adapter=None, scores={k: s.value() for k, s in stats.items()},
                       intervals={k: m.bootstrap_interval(s, counts) for k, s in stats.items()},
                       per_example=table, statistics=stats, seconds=time.perf_counter() - started,
                       warnings=warnings, endpoint=spec.to_dict())


def paired_differences(results: list[ModelResult], counts: np.ndarray) -> pd.DataFrame:
    """Each model against the first (the base): difference and paired-bootstrap 95% interval per score;
    `better` says whether the difference goes the metric's good way."""
    columns = ["model", "against", "key", "difference", "low", "high", "clear", "better"]
    rows = []
    first = results[0] if results else None
    for other in results[1:]:
        for key, stat in other.statistics.items():
            if key not in first.statistics:  # an endpoint has no perplexity, for one
                continue
            diff, low, high = m.paired_bootstrap(stat, first.statistics[key], counts)
            rows.append({"model": other.label, "against": first.label, "key": key, "difference": diff,
                         "low": low, "high": high, "clear": bool(low > 0 or high < 0),
                         "better": bool((diff > 0) == m.higher_is_better(key)) if diff else False})
    return pd.DataFrame(rows, columns=columns)


def _model_label(adapter) -> str:
    """The label a result is stored under: "base", the adapter's name (read from its folder), or the endpoint's."""
    if adapter is None:
        return "base"
    if isinstance(adapter, endpoint.EndpointSpec):
        return adapter.label
    return (adapter if isinstance(adapter, adapters.AdapterInfo) else adapters.read_adapter(adapter)).name


def _refuse_duplicates(adapter_list: list) -> None:
    """Each model once, checked before any run: results are stored per label, and a second one would only
    fail when the whole run is saved."""
    seen: dict[str, object] = {}
    for adapter in adapter_list:
        label = _model_label(adapter)
        if label in seen:
            if None in (adapter, seen[label]):
                raise InvalidSetting("an adapter is named `base`, like the base model: rename it to evaluate both",
                                     field="adapters")
            raise InvalidSetting(f"the adapter `{label}` is chosen twice: pick each model once", field="adapters")
        seen[label] = adapter


def evaluate_models(loaded: LoadedModel, adapter_list: list, dataset: EvalSet, metrics: list[str],
                    options: EvalOptions = EvalOptions(), progress: Progress | None = None,
                    should_stop: Callable[[], bool] | None = None) -> EvaluationReport:
    """The base (when None is in `adapter_list`) and each adapter over one loaded base, switched, not reloaded;
    an `EndpointSpec` in the list is asked over HTTP (reference metrics only)."""
    check_metrics(dataset, metrics)
    if not adapter_list:
        raise InvalidSetting("choose the base model or at least one adapter", field="adapters")
    _refuse_duplicates(adapter_list)
    counts = m.resample_counts(len(dataset), options.resamples, options.seed)  # shared: paired resamples
    results = []
    for i, adapter in enumerate(adapter_list):
        def scaled(fraction: float, message: str, i=i) -> None:
            if progress is not None:
                progress((i + fraction) / len(adapter_list), message)

        run = evaluate_endpoint if isinstance(adapter, endpoint.EndpointSpec) else evaluate
        results.append(run(loaded, adapter, dataset, metrics, options, scaled, should_stop, counts))
    return EvaluationReport(dataset=dataset, metrics=list(metrics), options=options, base_model=loaded.info.name,
                            results=results, comparisons=paired_differences(results, counts),
                            device=loaded.info.device, dtype=loaded.info.dtype)


def example_table(report: EvaluationReport, key: str) -> pd.DataFrame:
    """Per-example rows with every model's output and `key` score side by side, largest change (last model that
    has the score minus the first) first."""
    first = report.results[0].per_example
    table = pd.DataFrame({"line": first["line"]})
    examples = report.dataset.examples
    if report.dataset.kind == "reference":
        table["prompt"] = [e.prompt for e in examples]
        table["reference"] = [e.reference for e in examples]
    else:
        table["text"] = [e.text[:200] for e in examples]
    for r in report.results:
        if "output" in r.per_example:
            table[f"output: {r.label}"] = r.per_example["output"].values
    for r in report.results:
        if key in r.per_example:
            table[f"{key}: {r.label}"] = r.per_example[key].values
    scored = [r for r in report.results if key in r.per_example]  # an endpoint has no perplexity, for one
    if len(scored) > 1:
        table["change"] = scored[-1].per_example[key].values - scored[0].per_example[key].values
        table = table.iloc[np.argsort(-np.abs(table["change"].to_numpy()), kind="stable")]
    return table.reset_index(drop=True)
