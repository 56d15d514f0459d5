"""Copy as code, run: every page's snippet, executed as a notebook cell would run it on the embedded models at tiny
settings, reproduces what the page's own core call computes (the same maps, text, scores, summaries, losses)."""

import ast
import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from workbench import snippets
from workbench.attention import attribution, contributions
from workbench.attention import capture as core
from workbench.attention import figures as plots
from workbench.attention.generated import generate_and_inspect
from workbench.attention.row_math import row_math
from workbench.bias import runs as bias_runs
from workbench.compare import diff as compare
from workbench.evaluate.run import EvalOptions, evaluate_models
from workbench.evaluate.sets import read_eval_set
from workbench.finetune import jobs
from workbench.finetune.config import LoraRunConfig
from workbench.models import adapters
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import generate_grid, stream_generation
from workbench.prompt_lab.grid import GridSpec
from workbench.workspace import data_dir

TEXT = "The cat sat on the mat."
LAYER, HEAD, TOKEN, QUERY = 1, 2, 3, 5
MAX_TOKENS = 64


def run_cell(snippet: snippets.Snippet, m) -> tuple[dict, object, str]:
    """Run a snippet's body as a notebook cell does (the last expression is its shown value), with `m` the model
    its setup loads (the setup is checked to load that model: loading it again costs seconds a snippet; None for a
    snippet that loads none). Returns the cell's variables, its shown value and what it printed."""
    assert m is None or snippet.setup == snippets.load_code(m.spec)
    tree = ast.parse(snippet.body)
    last = tree.body.pop() if isinstance(tree.body[-1], ast.Expr) else None
    namespace = {"m": m}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(ast.Module([ast.parse(snippets.IMPORT).body[0], *tree.body], []), "snippet", "exec"),  # noqa: S102
             namespace)
        shown = eval(compile(ast.Expression(last.value), "snippet", "eval"), namespace) if last else None  # noqa: S307
    return namespace, shown, printed.getvalue()


def run_cell_without_model(snippet: snippets.Snippet) -> tuple[dict, object, str]:
    """A snippet whose setup loads no model (a fine-tune: its job loads the model in its own process)."""
    assert snippet.setup == snippets.IMPORT
    return run_cell(snippet, None)


def attention_cell(m, view: str, text: str = TEXT, **settings) -> tuple[dict, object, str]:
    return run_cell(snippets.attention_code(m.spec, text, view=view, layer=LAYER, head=HEAD, max_tokens=MAX_TOKENS,
                                            chat=False, **settings), m)


def z_of(fig) -> np.ndarray:
    """A heatmap's values (masked cells NaN)."""
    return np.array(fig.data[0].z, dtype=float)


@pytest.fixture(scope="module")
def page_capture(smollm2):
    """What the Attention page captures for one layer and for its all-heads scan."""
    one = core.capture_attention(smollm2, TEXT, [LAYER], chat=False, max_tokens=MAX_TOKENS)
    scan = core.capture_attention(smollm2, TEXT, [0], chat=False, max_tokens=MAX_TOKENS, overview_size=32,
                                  all_statistics=True)
    return one, scan


def test_one_head_and_aggregates_snippets_show_the_pages_maps(smollm2, page_capture):
    one, _ = page_capture
    namespace, shown, _ = attention_cell(smollm2, "One head")
    np.testing.assert_array_equal(namespace["a"].core.head(LAYER, HEAD), one.head(LAYER, HEAD))
    # the figure: the causal mask NaN above the diagonal, weights to the 4 decimals its hover shows
    np.testing.assert_allclose(np.nan_to_num(z_of(shown)), one.head(LAYER, HEAD), atol=1e-4)
    _, shown, _ = attention_cell(smollm2, "Aggregates")
    np.testing.assert_allclose(np.nan_to_num(z_of(shown)), core.mean_over_heads(one, LAYER), atol=1e-4)


def test_all_heads_and_statistics_snippets_give_the_pages_head_statistics(smollm2, page_capture):
    _, scan = page_capture
    columns = ["layer", "head", "entropy"]  # the page's from the float32 pass, the API's from the float16 maps
    namespace, shown, _ = attention_cell(smollm2, "Statistics")
    np.testing.assert_allclose(namespace["a"].to_pandas()[columns].to_numpy(float),
                               scan.statistics[columns].to_numpy(float), atol=1e-3)
    np.testing.assert_allclose(z_of(shown), z_of(plots.statistics_heatmap(scan.statistics, "entropy")), atol=1e-3)
    namespace, shown, _ = attention_cell(smollm2, "All heads")
    assert namespace["a"].core.layers == list(range(smollm2.info.layers)) and shown is not None  # the explorer


def test_token_focus_snippet_draws_the_pages_lines(smollm2, page_capture):
    one, _ = page_capture
    _, shown, _ = attention_cell(smollm2, "Token focus", token=TOKEN)
    out, _ = core.token_flow(one, LAYER, TOKEN)
    page = plots.token_lines(out, one.tokens, np.arange(one.n_tokens), TOKEN)
    assert json.loads(shown.to_json())["data"] == json.loads(page.to_json())["data"]


def test_row_math_snippet_recomputes_the_pages_row(smollm2, page_capture):
    one, _ = page_capture
    namespace, _, _ = attention_cell(smollm2, "Row math", query=QUERY)
    page = row_math(smollm2, one, LAYER, HEAD, QUERY)
    np.testing.assert_array_equal(namespace["r"].core.weights, page.weights)
    np.testing.assert_array_equal(namespace["r"].core.scores, page.scores)


def test_bertviz_snippet_captures_the_picked_layers(smollm2):
    namespace, _, _ = attention_cell(smollm2, "bertviz", picked=[2, 0])
    page = core.capture_attention(smollm2, TEXT, [0, 2], chat=False, max_tokens=MAX_TOKENS)
    assert namespace["a"].core.layers == [0, 2]
    np.testing.assert_array_equal(namespace["a"].core.pattern, page.pattern)


def test_generated_snippet_prints_the_pages_greedy_tokens(smollm2):
    _, _, printed = attention_cell(smollm2, "Generated", new_tokens=4)
    page = generate_and_inspect(smollm2, TEXT, 4, chat=False)
    assert printed == smollm2.tokenizer.decode(page.input_ids[page.prompt_len:]) + "\n"


def test_attribution_snippet_gives_the_pages_faithfulness_panel(smollm2):
    settings = {"target": " dog", "contrast": " mat", "method": "ig", "steps": 2}
    text = "The cat sat on"  # occlusion runs a pass per token
    namespace, _, _ = attention_cell(smollm2, "Attribution", text, attribution=settings)
    page = attribution.faithfulness(smollm2, text, target=" dog", contrast=" mat", steps=2, chat=False,
                                    max_tokens=MAX_TOKENS)
    assert list(namespace["r"].core.scores) == list(page.scores)
    for method, scores in page.scores.items():
        np.testing.assert_allclose(namespace["r"].core.scores[method], scores, rtol=1e-4, atol=1e-6, err_msg=method)


def test_contributions_snippet_gives_the_pages_graph_and_importance(smollm2):
    namespace, _, _ = attention_cell(smollm2, "Contributions", contributions={"token": 4, "threshold": 0.1})
    trace = contributions.trace_contributions(smollm2, TEXT, adapter=None, chat=False, max_tokens=MAX_TOKENS)
    graph = contributions.contribution_graph(trace, 4, 0.1)
    c = namespace["c"]
    assert c.to_pandas().equals(graph.to_frame())
    pd.testing.assert_frame_equal(c.core["importance"], contributions.component_importance(trace, 4), rtol=1e-5)


def test_sampled_generate_snippet_prints_the_pages_text(smollm2):
    params = SamplingParams(max_new_tokens=6, temperature=0.9, top_k=20, top_p=0.9)
    stream = stream_generation(smollm2, "Name a fruit.", params, chat=True, system="Be brief.", seed=5)
    "".join(stream)
    _, _, printed = run_cell(snippets.generate_code(smollm2.spec, "Name a fruit.", params, chat=True,
                                                    system="Be brief.", seed=5), smollm2)
    assert stream.result.text and printed == stream.result.text + "\n"


def test_grid_snippet_gives_the_pages_cells(smollm2):
    grid = {"template": "Say {w}.", "rows": [{"w": "hi"}], "chat": False, "seed": 1, "repeats": 1,
            "param_sets": [{"name": "greedy", "max_new_tokens": 3}, {"name": "warm", "max_new_tokens": 3,
                                                                     "temperature": 0.8}],
            "adapters": [None], "system": None, "batch_size": 4, "endpoints": []}
    _, shown, _ = run_cell(snippets.grid_code(smollm2.spec, grid), smollm2)
    page = generate_grid(smollm2, GridSpec.from_dict(grid))
    assert shown["text"].tolist() == [cell.text for cell in page.cells] and len(page.cells) == 2


def test_evaluate_snippet_gives_the_pages_scores(smollm2, workspace_with_adapter):
    options = {"max_new_tokens": 4, "resamples": 20}
    dataset = read_eval_set(data_dir() / "eval_facts.jsonl")
    page = evaluate_models(smollm2, [None, adapters.resolve("page-lora")],
                           type(dataset)(dataset.name, dataset.path, dataset.examples[:2], dataset.sha256),
                           ["exact_match", "chrf"], EvalOptions(**options))
    namespace, _, _ = run_cell(snippets.evaluate_code(smollm2.spec, dataset.path, ["exact_match", "chrf"],
                                                      [None, "page-lora"], limit=2, options=options), smollm2)
    report = namespace["e"].core
    assert [r.label for r in report.results] == [r.label for r in page.results] == ["base", "page-lora"]
    for ours, theirs in zip(report.results, page.results):
        assert ours.scores == pytest.approx(theirs.scores, rel=1e-9) and ours.intervals == theirs.intervals


@pytest.mark.parametrize("probe, settings, adapter", [("pronouns", {"limit": 2}, None),
                                                      ("crows-pairs", {"limit": 2}, "page-lora"),
                                                      ("bold-sentiment", {"limit": 1, "max_new_tokens": 3}, None)])
def test_bias_snippet_gives_the_pages_summary(smollm2, workspace_with_adapter, probe, settings, adapter):
    probe_settings = bias_runs.ProbeSettings(seed=3, **settings)
    page = bias_runs.run_probe(smollm2, probe, adapter=adapter and adapters.resolve(adapter),
                               settings=probe_settings, use_cache=False)  # the page runs the base, then the adapter
    namespace, _, printed = run_cell(snippets.bias_code(smollm2.spec, probe, vars(probe_settings), adapter=adapter,
                                                        recompute=True), smollm2)
    assert namespace["b"].core["adapter" if adapter else "base"].summary == pytest.approx(page.summary, nan_ok=True)
    assert printed == f"{page.summary}\n"


def test_finetune_snippet_trains_to_the_pages_losses(smollm2, workspace_home, tmp_path):
    rows = (data_dir() / "demo_dates_train.jsonl").read_text().splitlines()[:8]
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n")
    settings = {"model": smollm2.spec.name, "data": str(tmp_path / "train.jsonl"), "adapter_name": "page-job",
                "max_steps": 2, "batch_size": 2, "max_length": 48, "warmup_steps": 0, "validation_fraction": 0.0,
                "save_every": 100, "device": "cpu"}  # a 2-step run, with the page's own keys
    page_job = jobs.submit(LoraRunConfig(**settings))  # the page's Start button
    namespace, shown, _ = run_cell_without_model(snippets.finetune_code({**settings, "adapter_name": "code-job"}))
    assert jobs.wait(page_job, timeout_s=180)["status"] == "done" and namespace["job"].status == "done"
    page = [m["loss"] for m in jobs.metrics(page_job) if m.get("kind") == "train"]
    ours = [m["loss"] for m in shown.core if m.get("kind") == "train"]
    assert len(page) == 2 and ours == pytest.approx(page, rel=1e-3)  # threads may differ: float sums reorder


def test_compare_snippet_gives_the_pages_outputs_shift_and_attention_diff(smollm2, workspace_with_adapter):
    prompt = "Name a colour."
    page = compare.side_by_side(smollm2, "page-lora", prompt, chat=True, max_new_tokens=4, seed=0)
    shift = compare.logprob_shift(smollm2, "page-lora", page.tuned_greedy, page.adapter)
    diff = compare.attention_diff(smollm2, "page-lora", TEXT, measure="js", max_tokens=16)
    namespace, _, printed = run_cell(snippets.compare_code(
        smollm2.spec, "page-lora", prompt, chat=True, max_new_tokens=4,
        attention={"text": TEXT, "measure": "js", "max_tokens": 16}), smollm2)
    assert printed == f"{page.base_greedy.text}\n{page.tuned_greedy.text}\n"
    np.testing.assert_allclose(namespace["c"].core["shift"].shift, shift.shift, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(namespace["d"].core.divergence, diff.divergence, rtol=1e-5, atol=1e-7)
