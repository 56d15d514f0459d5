"""The notebook API, `import workbench as wb`: thin calls into the capabilities' public entry points (the same
core the pages use), each wrapped in a result object that draws itself. Every call into a capability package is
in this module, so a renamed entry point is fixed here once."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import models, results
from workbench.attention import adapter_diff as attention_adapter_diff
from workbench.attention import attribution as attention_attribution
from workbench.attention import capture as attention_capture
from workbench.attention import contributions as attention_contributions
from workbench.attention import distances as attention_distances
from workbench.attention import figures as attention_figures
from workbench.attention import row_math as attention_row_math
from workbench.attention import sinks as attention_sinks
from workbench.bias import figures as bias_figures
from workbench.bias import runs as bias_runs
from workbench.compare import diff as compare_diff
from workbench.compare import figures as compare_figures
from workbench.errors import InvalidSetting
from workbench.evaluate import figures as evaluate_figures
from workbench.evaluate import run as evaluate_run
from workbench.evaluate import sets as evaluate_sets
from workbench.finetune import config as finetune_config
from workbench.finetune import figures as finetune_figures
from workbench.finetune import jobs as finetune_jobs
from workbench.progress import Progress
from workbench.prompt_lab import decoding, generation, token_views
from workbench.prompt_lab import figures as prompt_figures
from workbench.prompt_lab import grid as grid_spec

__all__ = ["load", "attention", "attention_figure", "attention_explorer", "attention_row", "contributions",
           "contribution_graph", "vocabulary_projection", "attribute", "adapter_diff", "attribution_diff", "generate",
           "decoding_step", "grid", "evaluate", "compare",
           "bias", "finetune", "FinetuneJob"]


@contextlib.contextmanager
def _bar(description: str) -> Iterator[Progress]:
    """A tqdm.auto bar (a widget in Jupyter, text elsewhere) as a `Progress` callback, closed on leaving."""
    from tqdm.auto import tqdm

    bar = tqdm(total=100, desc=description, bar_format="{l_bar}{bar}| {n:.0f}% {postfix}")

    def report(fraction: float, message: str) -> None:
        bar.n = round(100 * min(max(fraction, 0.0), 1.0), 1)
        bar.set_postfix_str(message[:60], refresh=True)

    try:
        yield report
    finally:
        bar.close()


def load(name_or_folder: str = models.DEFAULT_MODEL, *, device: str = "auto", dtype: str = "auto",
         **spec) -> models.LoadedModel:
    """Load an embedded model, a Hugging Face id or a local folder (offline unless `allow_download=True`).

    >>> m = wb.load("smollm2-135m-instruct", device="cpu")
    >>> m.info.layers, m.info.heads, m.info.kv_heads
    (30, 9, 3)
    """
    return models.load(models.ModelSpec(name_or_folder, device=device, dtype=dtype, **spec))


def attention(m: models.LoadedModel, text: str, layers: list[int] | None = None, *, max_tokens: int | None = None,
              chat: bool = False, layer: int | None = None, head: int = 0) -> results.AttentionResult:
    """Capture the attention maps of `layers` (all when None) over `text`; shows one head's map.

    >>> a = wb.attention(m, "The cat sat on the mat", layers=[3], head=2)
    >>> a.core.head(3, 2).sum(-1)        # every row sums to 1
    >>> a.figure("statistics"); a.save("head.svg")
    >>> wb.attention(m, "The cat sat on the mat").figure("sinks")   # every layer: also "distances", "sinks"
    """
    cap = attention_capture.capture_attention(m, text, layers, max_tokens=max_tokens, chat=chat,
                                              all_statistics=layers is None)  # every layer: distances, sinks
    shown = cap.layers[0] if layer is None else layer
    stats = attention_capture.head_statistics(cap)
    summary = (f"{cap.model_name}: {cap.n_tokens} tokens, layers {cap.layers}, {cap.n_heads} query heads / "
               f"{cap.kv_heads} key-value heads; showing layer {shown} head {head}")
    result = results.AttentionResult(cap, summary, {}, lambda: stats)
    result.views.update({view: (lambda view=view: attention_figure(result, view, layer=shown, head=head))
                         for view in ("head", "mean", "token")})
    result.views["statistics"] = lambda: attention_figures.statistics_heatmap(stats, "entropy")
    if cap.distances is not None:
        result.views["distances"] = lambda: _distance_figure(cap)
        result.views["sinks"] = lambda: attention_figures.sink_heatmap(*attention_sinks.strongest_keys(cap),
                                                                       cap.tokens, attention_sinks.SINK_MIN_SHARE)
    return result


def _distance_figure(cap: attention_capture.AttentionCapture):
    """Every layer's attention by |query - key| distance bin, mean over heads, as the page draws it."""
    bins = attention_distances.bin_labels(attention_distances.distance_edges(cap.n_tokens))
    return attention_figures.distance_heatmap(cap.distances.mean(1) / cap.n_tokens, bins,
                                              [f"L{l}" for l in range(cap.n_layers)],
                                              "Every layer: attention by distance (mean over heads)")


def attention_figure(result: results.AttentionResult, view: str = "head", *, layer: int | None = None,
                     head: int = 0, token: int | None = None):
    """One attention figure of a capture, as the page draws it: "head" (one head's map), "mean" (the layer's
    mean over heads) or "token" (where `token` looks, one line colour per head).

    >>> wb.attention_figure(a, "token", layer=3, token=5)
    """
    cap = result.core
    layer = cap.layers[0] if layer is None else layer
    labels = attention_figures.position_labels(cap.tokens, range(cap.n_tokens))
    masked = np.triu(np.ones((cap.n_tokens, cap.n_tokens), bool), 1) if cap.causal else None
    if view == "head":
        return attention_figures.head_heatmap(cap.head(layer, head), labels, labels, masked=masked,
                                              title=f"layer {layer} head {head}")
    if view == "mean":
        return attention_figures.head_heatmap(cap.layer(layer).mean(0), labels, labels, masked=masked,
                                              title=f"layer {layer}, mean over {cap.n_heads} heads")
    if view == "token":
        focus = cap.n_tokens - 1 if token is None else int(token)
        out, _ = attention_capture.token_flow(cap, layer, focus)                 # (H, T) weights of the focus row
        return attention_figures.token_lines(out, cap.tokens, np.arange(cap.n_tokens), focus)
    raise InvalidSetting(f"`view` must be 'head', 'mean' or 'token', got {view!r}", field="view")


def attention_explorer(result: results.AttentionResult):
    """An ipywidgets explorer of a capture: layer, head, view and token pickers; hover shows exact weights.

    >>> wb.attention_explorer(wb.attention(m, "The cat sat on the mat", layers=[0, 3, 7]))
    """
    from workbench.attention.widget import AttentionExplorer

    return AttentionExplorer(result, attention_figure).box


def attention_row(m: models.LoadedModel, result: results.AttentionResult, layer: int, head: int,
                  query: int) -> results.Result:
    """Every number of softmax(q·kᵀ/√d_k) for one query row, recomputed from the layer's projections.

    >>> r = wb.attention_row(m, a, layer=3, head=2, query=5)
    >>> r.core.weights, r.core.kv_head   # (T,) weights; the key/value head this query head reads
    """
    row = attention_row_math.row_math(m, result.core, layer, head, query)
    labels = attention_figures.position_labels(result.core.tokens, range(len(row.weights)))
    table = pd.DataFrame({"key": labels, "score": row.scores, "visible": row.visible, "weight": row.weights})
    summary = f"layer {layer} head {head} (key/value head {row.kv_head}), query {query}, d_k={row.head_dim}"
    views = {"row": lambda: attention_figures.row_math_figure(row.scores, row.weights, row.visible, labels)}
    return results.Result(row, summary, views, lambda: table)


def _contribution_result(trace: attention_contributions.ContributionTrace, token: int | None,
                         threshold: float) -> results.ContributionResult:
    graph = attention_contributions.contribution_graph(trace, token, threshold)
    importance = attention_contributions.component_importance(trace, graph.token)
    edges = graph.to_frame()
    where = f"token {graph.token} {graph.tokens[graph.token]!r}"
    summary = (f"{graph.model_name}{f' + {graph.adapter}' if graph.adapter else ''}: {len(graph.edges)} edges above "
               f"{graph.threshold} into {where}, {trace.n_tokens} tokens, one pass in {trace.seconds:.1f} s")
    views = {"graph": lambda: attention_figures.contribution_graph(graph.nodes_frame(), edges, graph.tokens,
                                                                   graph.n_layers, title=f"Contributions to {where}"),
             "importance": lambda: attention_figures.importance_heatmap(importance, f"Component importance at {where}")}
    return results.ContributionResult({"graph": graph, "importance": importance, "trace": trace}, summary, views,
                                      lambda: edges)


def contributions(m: models.LoadedModel, text: str, *, token: int | None = None,
                  threshold: float = attention_contributions.DEFAULT_THRESHOLD, adapter=None, chat: bool = False,
                  max_tokens: int | None = None) -> results.ContributionResult:
    """Contribution graph of one token (information-flow routes, Ferrando & Voita 2024) from one forward pass with
    hooks on the model's own modules; `adapter` (name or folder) is active during it. Shows the graph.

    >>> c = wb.contributions(m, "The capital of France is", token=-1, threshold=0.04)
    >>> c.to_pandas()                     # one row per kept edge: layer, block, kind, head, source, target, ...
    >>> c.figure("importance"); c.core["trace"].head_contributions(3)   # (H, T, D)
    """
    trace = attention_contributions.trace_contributions(m, text, adapter=generation.resolve_adapter(adapter),
                                                        chat=chat, max_tokens=max_tokens)
    return _contribution_result(trace, token, threshold)


def contribution_graph(result: results.ContributionResult, *, token: int | None = None,
                       threshold: float = attention_contributions.DEFAULT_THRESHOLD) -> results.ContributionResult:
    """The graph of another token or threshold from the same pass (no forward pass).

    >>> wb.contribution_graph(c, token=3, threshold=0.1)
    """
    return _contribution_result(result.core["trace"], token, threshold)


def vocabulary_projection(m: models.LoadedModel, result: results.ContributionResult, layer: int, component: str, *,
                          position: int | None = None, k: int = 10) -> results.Result:
    """The tokens one component ("residual", "attention", "mlp", "head N") promotes and suppresses: its vector
    through the final norm and the output embedding, at the graph's token unless `position` is given.

    >>> wb.vocabulary_projection(m, c, layer=20, component="mlp").to_pandas()
    """
    trace = result.core["trace"]
    position = result.core["graph"].token if position is None else position
    vp = attention_contributions.vocabulary_projection(m, trace, layer, component, position, k)
    title = f"layer {layer} {component} at {vp.position} {trace.tokens[vp.position]!r}"
    views = {"vocabulary": lambda: attention_figures.vocabulary_bars(vp.promoted, vp.promoted_logits, vp.suppressed,
                                                                     vp.suppressed_logits, title)}
    return results.Result(vp, f"{title}: promotes {', '.join(vp.promoted[:5])}", views, vp.to_frame)
def attribute(m: models.LoadedModel, prompt: str, *, target: str | int | None = None,
              contrast: str | int | None = None, method: str = "ig", steps: int = 32, position: int | None = None,
              chat: bool = False, adapter=None, panel: bool = False) -> results.AttributionResult:
    """Attribute the next token (`target`, default the greedy one; or logit(target) - logit(contrast)) to the
    prompt's tokens with "ig", "gxi" or "occlusion"; `panel=True` adds rollout and every method side by side.

    >>> r = wb.attribute(m, "The nurse said that", target=" she", contrast=" he", method="ig", panel=True)
    >>> r.to_pandas(); r.figure("correlations"); r.core.message
    """
    options = {"target": target, "contrast": contrast, "steps": steps, "position": position, "chat": chat,
               "adapter": adapter}
    names = attention_attribution.PANEL_METHODS
    if panel:
        attention_attribution.check_method(method, steps)
        core = attention_attribution.faithfulness(m, prompt, **options)
        shown, table = core.attributions[method], core.to_frame
    else:
        core = shown = attention_attribution.attribute(m, prompt, method=method, **options)
        table = shown.to_frame
    title = f"{names[method]} of the {shown.output}"
    views = {"tokens": lambda: attention_figures.attribution_bars(shown.tokens, shown.scores, title=title,
                                                                  visible=shown.visible)}
    summary = f"{shown.model_name}: {title} (f = {shown.value:.4g}, baseline {shown.baseline_value:.4g})"
    if panel:
        views["methods"] = lambda: attention_figures.attribution_strips(shown.tokens, core.scores, names)
        views["correlations"] = lambda: attention_figures.correlation_matrix(core.correlations, names,
                                                                             threshold=core.threshold)
        summary += f"; {core.message}"
    return results.AttributionResult(core, summary, views, table)


def adapter_diff(m: models.LoadedModel, text: str, adapter, *, token: int | None = None,
                 threshold: float = attention_contributions.DEFAULT_THRESHOLD, chat: bool = False,
                 max_tokens: int | None = None) -> results.Result:
    """Base vs adapter: the contribution trace of `text` with either, and each head's and MLP's change at `token`
    (importance delta, and how far the vector it writes moved). Shows the delta heatmap.

    >>> d = wb.adapter_diff(m, "The capital of France is", "demo-lora", token=-1)
    >>> d.to_pandas().sort_values("delta"); d.figure("adapter graph"); d.core.ranking(10)
    """
    core = attention_adapter_diff.contribution_diff(m, text, generation.resolve_adapter(adapter), token=token,
                                                    chat=chat, max_tokens=max_tokens)
    where = f"token {core.token} {core.tokens[core.token]!r}"
    base_graph, tuned_graph = core.graphs(threshold)
    views = {"delta": lambda: attention_figures.contribution_delta_heatmap(
                 core.delta_matrix(), core.adapter, f"Importance change at {where}: {core.adapter} - base"),
             "change": lambda: attention_figures.contribution_delta_heatmap(
                 core.delta_matrix("change"), core.adapter, f"How far each component's output moved at {where}",
                 value="relative change")}
    for name, graph in (("base graph", base_graph), ("adapter graph", tuned_graph)):
        views[name] = lambda g=graph, n=name: attention_figures.contribution_graph(
            g.nodes_frame(), g.to_frame(), g.tokens, g.n_layers, title=f"Contributions to {where} ({n})")
    top = core.ranking(1).iloc[0]
    summary = (f"{core.model_name} base vs {core.adapter} at {where}: most changed L{top['layer']} "
               f"{top['component']} ({top['delta']:+.3f} importance)")
    return results.Result(core, summary, views, lambda: core.frame)


def attribution_diff(m: models.LoadedModel, prompt: str, adapter, *, target: str | int | None = None,
                     contrast: str | int | None = None, method: str = "ig", steps: int = 32, chat: bool = False,
                     max_tokens: int | None = None) -> results.Result:
    """The same output attributed with the base model and with `adapter` (the adapter targets the base's token),
    and the per-token difference.

    >>> r = wb.attribution_diff(m, "The nurse said that", "demo-lora", target=" she", method="gxi")
    >>> r.to_pandas(); r.core.delta
    """
    core = attention_adapter_diff.attribution_diff(m, prompt, generation.resolve_adapter(adapter), target=target,
                                                   contrast=contrast, method=method, steps=steps, chat=chat,
                                                   max_tokens=max_tokens)
    title = f"{attention_attribution.METHODS[method]} of the {core.base.output}"
    views = {"tokens": lambda: attention_figures.attribution_delta_bars(
        core.base.tokens, core.base.scores, core.tuned.scores, core.tuned.adapter or "adapter", title=title,
        visible=core.base.visible)}
    summary = f"{core.base.model_name} base vs {core.tuned.adapter}: {title}"
    return results.Result(core, summary, views, core.to_frame)


def _sampling(max_new_tokens: int, temperature: float, top_k: int, top_p: float,
              repetition_penalty: float) -> decoding.SamplingParams:
    return decoding.SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                                   top_p=top_p, repetition_penalty=repetition_penalty)


def generate(m: models.LoadedModel, prompt: str, *, max_new_tokens: int = 32, temperature: float = 0.0,
             top_k: int = 0, top_p: float = 1.0, repetition_penalty: float = 1.0, chat: bool = False,
             system: str | None = None, seed: int = 0, adapter=None) -> results.GenerationResult:
    """Generate with the Prompt lab's decoder (temperature 0 = greedy); shows each token's probability.

    >>> g = wb.generate(m, "The capital of France is", max_new_tokens=8)
    >>> g.core.text, g.to_pandas()[["token", "probability"]]
    """
    params = _sampling(max_new_tokens, temperature, top_k, top_p, repetition_penalty)
    gen = generation.generate(m, prompt, params, chat=chat, system=system, seed=seed, adapter=adapter)
    view = token_views.token_probabilities(m, gen.prompt_ids, gen.token_ids, top_k=5, adapter=adapter)
    table = pd.DataFrame([{"token": t.text, "token_id": t.token_id, "probability": t.prob, "rank": t.rank}
                          for t in view.tokens])
    summary = f"{gen.new_tokens} new tokens ({gen.finish_reason}, {params.label}): {gen.text!r}"
    views = {"tokens": lambda: prompt_figures.token_probability_figure(view)}
    return results.GenerationResult(gen, summary, views, lambda: table)


def decoding_step(m: models.LoadedModel, result: results.GenerationResult, step: int, *, temperature: float = 0.0,
                  top_k: int = 0, top_p: float = 1.0, repetition_penalty: float = 1.0,
                  top_n: int = 15) -> results.StepResult:
    """One generation step opened up: P(x_t|x_<t) after repetition penalty, temperature, top-k and top-p.

    >>> s = wb.decoding_step(m, g, step=0, temperature=0.8, top_k=10, top_p=0.9)
    >>> s.to_pandas()     # one row per shown token, one column per stage
    """
    params = _sampling(1, temperature, top_k, top_p, repetition_penalty)
    gen = result.core
    view = token_views.open_step(m, gen.prompt_ids, gen.token_ids, step, params, top_n=top_n, adapter=gen.adapter)
    table = pd.DataFrame({"token": view.token_texts, "token_id": view.token_ids,
                          **{stage.name: stage.probs for stage in view.stages}})
    summary = f"step {step}: drew {view.drawn_text!r}; stages: {', '.join(s.name for s in view.stages)}"
    return results.StepResult(view, summary, {"step": lambda: prompt_figures.decoding_step_figure(view)},
                              lambda: table)


def grid(m: models.LoadedModel, spec: grid_spec.GridSpec | dict) -> results.GridResult:
    """Run a Prompt lab grid: template x rows x parameter sets x adapters x repeats, batched.

    >>> r = wb.grid(m, {"template": "Say {word} twice.", "rows": [{"word": "hi"}, {"word": "yes"}],
    ...                 "param_sets": [{"max_new_tokens": 8}]})
    >>> r.to_pandas()[["params", "variables", "text"]]
    """
    if isinstance(spec, dict):
        spec = grid_spec.GridSpec.from_dict(spec)
    out = generation.generate_grid(m, spec)
    table = pd.DataFrame([vars(cell) for cell in out.cells])
    summary = f"{len(out.cells)} cells in {out.batches} batches, {out.seconds:.1f} s"
    return results.GridResult(out, summary, {"table": lambda: _table_figure(table[["params", "row", "repeat",
                                                                                  "text"]])}, lambda: table)


def _table_figure(frame: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure(go.Table(header={"values": list(frame.columns)},
                             cells={"values": [frame[c].astype(str).tolist() for c in frame.columns]}))
    fig.update_layout(height=min(900, 120 + 40 * len(frame)), margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def evaluate(m: models.LoadedModel, data: str | Path | evaluate_sets.EvalSet, metrics: list[str],
             adapters: list | tuple = (None,), *, limit: int = 0, **options) -> results.EvaluationResult:
    """Score the base (None) and adapters on an eval set (JSONL/TXT path; `limit`: its first N examples), with
    bootstrap 95% intervals.

    >>> e = wb.evaluate(m, "data/eval_facts.jsonl", ["exact_match", "chrf"], adapters=[None, "demo"])
    >>> e.to_pandas()       # model, key, value, low, high
    """
    dataset = data if isinstance(data, evaluate_sets.EvalSet) else evaluate_sets.read_eval_set(data)
    if limit:
        dataset = dataclasses.replace(dataset, examples=dataset.examples[:int(limit)])
    with _bar(f"evaluate {dataset.name}") as progress:
        report = evaluate_run.evaluate_models(m, [generation.resolve_adapter(a) for a in adapters], dataset,
                                              list(metrics), evaluate_run.EvalOptions(**options), progress)
    scores = evaluate_figures.scores_table(report.results)
    views = {"scores": lambda: evaluate_figures.score_bars(scores)}
    if len(report.results) > 1:
        views["difference"] = lambda: evaluate_figures.difference_forest(report.comparisons)
    summary = "; ".join(f"{r.label}: " + ", ".join(f"{k} {v:.4g}" for k, v in r.scores.items())
                        for r in report.results)
    return results.EvaluationResult(report, summary, views, lambda: scores)


def compare(m: models.LoadedModel, adapter, text: str, *, view: str = "shift", chat: bool = False,
            max_new_tokens: int = 24, seed: int = 0, layers: list[int] | None = None,
            measure: str = "js", max_tokens: int = 192) -> results.CompareResult:
    """Base against an adapter: view "shift" scores the adapter's greedy output under both; "attention"
    measures how far each head's map moved (over the first `max_tokens` tokens of `text`).

    >>> c = wb.compare(m, "demo", "Write a haiku about rain.", view="shift")
    >>> c.to_pandas()[["token", "shift"]]
    """
    if view == "shift":
        sbs = compare_diff.side_by_side(m, adapter, text, chat=chat, max_new_tokens=max_new_tokens, seed=seed)
        shift = compare_diff.logprob_shift(m, adapter, sbs.tuned_greedy, sbs.adapter)
        summary = (f"adapter {sbs.adapter}: total shift {shift.shift.sum():+.2f} nats over {len(shift.tokens)} "
                   f"tokens; base said {sbs.base_greedy.text!r}, adapter said {sbs.tuned_greedy.text!r}")
        views = {"shift": lambda: compare_figures.shift_bars(shift.tokens, shift.shift, shift.logp_base,
                                                             shift.logp_tuned, sbs.adapter)}
        return results.CompareResult({"side_by_side": sbs, "shift": shift}, summary, views, shift.table)
    if view == "attention":
        diff = compare_diff.attention_diff(m, adapter, text, measure=measure, chat=chat, layers=layers,
                                           max_tokens=max_tokens)
        name = compare_diff.MEASURES[diff.measure]
        views = {"attention": lambda: compare_figures.divergence_heatmap(diff.divergence, diff.layers, name,
                                                                         diff.adapter)}
        top = diff.ranking(1).iloc[0]
        summary = f"adapter {diff.adapter}: most changed head L{top['layer']} H{top['head']} ({name})"
        return results.CompareResult(diff, summary, views, lambda: diff.ranking(len(diff.divergence.ravel())))
    raise InvalidSetting(f"`view` must be 'shift' or 'attention', got {view!r}", field="view")


def _probe_views(result) -> dict:
    tables, summary = result.tables, result.summary
    if result.probe == "pronouns":
        return {"scatter": lambda: bias_figures.pronoun_scatter(tables["occupations"], summary),
                "skew": lambda: bias_figures.pronoun_skew_bars(tables["occupations"])}
    if result.probe == "crows-pairs":
        return {"share": lambda: bias_figures.crows_share_chart(tables["by_type"])}
    return {"sentiment": lambda: bias_figures.bold_distributions(tables["continuations"], tables["by_group"])}


def _headline(result) -> str:
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in list(result.summary.items())[:4])


def bias(m: models.LoadedModel, probe: str, *, adapter=None, limit: int | None = None, seed: int = 0,
         domain: str = "gender", max_new_tokens: int = 20, data_path: str | Path | None = None,
         use_cache: bool = True) -> results.BiasResult:
    """Run a bias probe ("pronouns", "crows-pairs", "bold-sentiment") on its installed benchmark or `data_path`;
    with `adapter`, before and after.

    >>> b = wb.bias(m, "crows-pairs", limit=40)
    >>> b.core["base"].summary; b.figure("share")
    """
    settings = bias_runs.ProbeSettings(limit=limit, seed=seed, domain=domain, max_new_tokens=max_new_tokens)
    with _bar(f"{probe}, base") as progress:
        base = bias_runs.run_probe(m, probe, data_path=data_path, settings=settings, use_cache=use_cache,
                                   progress=progress)
    views = _probe_views(base)
    core = {"base": base}
    summary = f"{probe} on {base.model}: {_headline(base)}"
    table = lambda: next(iter(base.tables.values()))
    if adapter is not None:
        with _bar(f"{probe}, adapter") as progress:
            tuned = bias_runs.run_probe(m, probe, adapter=generation.resolve_adapter(adapter), data_path=data_path,
                                        settings=settings, use_cache=use_cache, progress=progress)
        changes = bias_runs.before_after(base, tuned)
        metric = changes["metric"]["metric"].iloc[0]
        views = {"before_after": lambda: bias_figures.before_after_groups(changes["groups"], metric), **views}
        core.update(adapter=tuned, changes=changes)
        summary += f"; with {tuned.adapter}: {_headline(tuned)}"
        table = lambda: changes["groups"]
    return results.BiasResult(core, summary, views, table)


@dataclass(eq=False)
class FinetuneJob:
    """A background fine-tune (its own process, state in the workspace): `.wait()` draws a progress bar."""

    id: str
    adapter: str = field(default="")

    @property
    def status(self) -> str:
        return finetune_jobs.job(self.id)["status"]

    def row(self) -> dict:
        return finetune_jobs.job(self.id)

    def wait(self, timeout_s: float = 1800, *, progress: bool = True) -> FinetuneJob:
        """Block until the job is done, failed or stopped, with a tqdm bar of its steps."""
        from tqdm.auto import tqdm

        row = self.row()
        bar = tqdm(total=max(int(row.get("max_steps") or 0), 1), desc=self.adapter or self.id, disable=not progress)
        deadline = time.time() + timeout_s
        while row["status"] not in ("done", "failed", "stopped"):
            if time.time() > deadline:
                bar.close()
                raise finetune_jobs.JobError(f"job {self.id} still {row['status']} after {timeout_s:.0f} s",
                                             field="job")
            time.sleep(0.5)
            row = self.row()
            bar.total = max(int(row.get("max_steps") or 0), bar.total)
            bar.update(int(row.get("step") or 0) - bar.n)
            bar.set_postfix_str(row["status"])
        bar.close()
        return self

    def stop(self) -> FinetuneJob:
        """Ask the job to stop; it writes a checkpoint and ends as `stopped`."""
        finetune_jobs.stop(self.id)
        return self

    def resume(self) -> FinetuneJob:
        """Restart a stopped or failed job from its last complete checkpoint."""
        finetune_jobs.resume(self.id)
        return self

    def curves(self) -> results.TrainingCurves:
        """The training and validation loss so far."""
        log = finetune_jobs.metrics(self.id)
        summary = f"job {self.id} ({self.adapter}): {self.status}, {len(log)} log lines"
        return results.TrainingCurves(log, summary, {"curves": lambda: finetune_figures.training_curves(log)},
                                      lambda: pd.DataFrame(log))

    def __repr__(self) -> str:
        row = self.row()
        return (f"<FinetuneJob {self.id} {self.adapter!r}: {row['status']}, "
                f"step {row.get('step')}/{row.get('max_steps')}>")


def finetune(config: finetune_config.LoraRunConfig | dict | None = None, **settings) -> FinetuneJob:
    """Start a LoRA fine-tune in the background (same config as the page and CLI); returns its job.

    >>> job = wb.finetune(data="data/demo_dates_train.jsonl", adapter_name="dates-nb", max_steps=4)
    >>> job.wait(); job.status; job.curves()
    """
    if config is None:
        config = finetune_config.LoraRunConfig.from_dict(settings)
    elif isinstance(config, dict):
        config = finetune_config.LoraRunConfig.from_dict({**config, **settings})
    return FinetuneJob(finetune_jobs.submit(config), config.adapter_name)
