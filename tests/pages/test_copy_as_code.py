"""Every page's "Copy as code" block under AppTest: it is there, it is Python, and it carries the page's current
inputs; a picked Prompt lab run offers its .ipynb."""

import ast
import time

from workbench.store import Store

AWKWARD = 'Tom\'s "cat" sat.\nThen it slept.'


def snippets_of(at) -> list[str]:
    codes = [c.value for c in at.code if "import workbench as wb" in c.value]
    for code in codes:
        compile(code, "snippet", "exec")
    return codes


def api_call(code: str, name: str) -> tuple[list, dict]:
    """The literal arguments of the snippet's `wb.<name>(...)` call (variables such as `m` left out)."""
    [call] = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
              and getattr(n.func.value, "id", None) == "wb" and n.func.attr == name]
    return ([ast.literal_eval(a) for a in call.args if not isinstance(a, ast.Name)],
            {k.arg: ast.literal_eval(k.value) for k in call.keywords})


def page_snippets(open_page, name: str, *steps: tuple[str, str, str, object]) -> list[str]:
    """Open a page, apply each (widget kind, key, method, value) step with a rerun after it, and return the page's
    snippets once it has raised nothing."""
    at = open_page(name)
    for kind, key, method, value in steps:
        getattr(getattr(at, kind)(key=key), method)(value).run()
    assert not at.exception, at.exception
    return snippets_of(at)


def test_attention_snippet_has_the_text_layer_and_head(workspace_with_adapter, open_page):
    [code] = page_snippets(open_page, "attention", ("text_area", "attn_text", "input", AWKWARD),
                           ("selectbox", "attn_layer", "select", 2), ("selectbox", "attn_head", "select", 1))
    assert api_call(code, "attention") == ([AWKWARD], {"layers": [2], "max_tokens": 2048, "layer": 2, "head": 1})
    assert api_call(code, "load") == (["smollm2-135m-instruct"], {})


def test_prompt_lab_snippets_have_the_prompt_settings_and_grid(workspace_with_adapter, open_page):
    generate, grid = page_snippets(open_page, "prompt_lab", ("text_area", "pl_prompt", "input", AWKWARD),
                                   ("number_input", "pl_max", "set_value", 5),
                                   ("number_input", "pl_seed", "set_value", 9))
    args, keywords = api_call(generate, "generate")
    assert args == [AWKWARD] and keywords["max_new_tokens"] == 5 and keywords["seed"] == 9
    [spec], _ = api_call(grid, "grid")
    assert spec["template"] == "In one sentence, what is {thing} used for?"
    assert spec["rows"] == [{"thing": "a hammer"}, {"thing": "a compass"}, {"thing": "yeast"}]


def _stored_run() -> int:
    values = {"created": time.time(), "kind": "generate", "model": "smollm2-135m-instruct", "adapters": "[null]",
              "prompt": "Hi", "seed": 0, "environment": '{"device": "cpu", "dtype": "float32"}',
              "spec": '{"prompt": "Hi", "chat": false, "system": null, "seed": 0, "adapter": null, '
                      '"params": {"max_new_tokens": 3}}',
              "outputs": '[{"text": "out"}]', "prompt_tokens": 1, "new_tokens": 1, "seconds": 0.1}
    with Store().connect() as conn:
        return conn.execute(f"INSERT INTO experiments ({', '.join(values)}) VALUES "
                            f"({', '.join('?' * len(values))})", tuple(values.values())).lastrowid


def _ipynb_button(at):
    [button] = [b for b in at.get("download_button") if b.proto.label == "Export .ipynb"]
    return button.proto


def test_prompt_lab_history_exports_one_picked_run_as_a_notebook(workspace_with_adapter, open_page):
    run_id = _stored_run()
    at = open_page("prompt_lab")
    assert _ipynb_button(at).disabled  # nothing picked
    at.multiselect(key="pl_h_pick").select(run_id).run()
    assert not at.exception, at.exception
    assert not _ipynb_button(at).disabled


def test_evaluate_snippet_has_the_set_metrics_models_and_limit(workspace_with_adapter, open_page):
    [code] = page_snippets(open_page, "evaluate", ("selectbox", "ev_set", "select", "eval_facts.jsonl"),
                           ("multiselect", "ev_metrics", "set_value", ["exact_match", "chrf"]),
                           ("number_input", "ev_limit", "set_value", 3))
    (data, metrics), keywords = api_call(code, "evaluate")
    assert data.endswith("eval_facts.jsonl") and metrics == ["exact_match", "chrf"]
    assert keywords["adapters"] == [None, "page-lora"] and keywords["limit"] == 3


def test_bias_snippets_have_each_probe_and_the_seed(workspace_with_adapter, open_page):
    codes = page_snippets(open_page, "bias", ("number_input", "bias_seed", "set_value", 7))
    calls = [api_call(c, "bias") for c in codes]
    assert [args for args, _ in calls] == [["pronouns"], ["crows-pairs"], ["bold-sentiment"]]
    assert all(keywords["seed"] == 7 for _, keywords in calls)


def test_compare_snippet_has_the_adapter_and_prompt(workspace_with_adapter, open_page):
    [code] = page_snippets(open_page, "compare", ("text_area", "cmp_prompt", "input", AWKWARD),
                           ("number_input", "cmp_max_new", "set_value", 6))
    assert api_call(code, "compare") == (["page-lora", AWKWARD], {"max_new_tokens": 6})


def test_finetune_snippet_has_the_data_file_and_adapter_name(workspace_with_adapter, open_page):
    [code] = page_snippets(open_page, "finetune")
    [config], _ = api_call(code, "finetune")
    assert config["data"].endswith("demo_dates_train.jsonl") and config["adapter_name"] == "demo_dates-lora"
    assert config["model"] == "smollm2-135m-instruct" and config["max_steps"] == 150
