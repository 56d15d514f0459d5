"""Copy as code: every snippet is valid Python whatever the inputs hold, calls only what the API has, and the
Prompt lab's greedy snippet, run, prints the page's text."""

import ast
import contextlib
import io

import numpy as np
import pytest

from workbench import snippets
from workbench.models import ModelSpec
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import stream_generation

SPEC = ModelSpec("smollm2-135m-instruct", device="cpu")
AWKWARD = 'It\'s "quoted",\na backslash \\ and {braces}, ünïcode — and a tab\t'
ATTENTION_VIEWS = ["One head", "All heads", "Token focus", "Statistics", "Distance & sinks", "Aggregates", "Row math",
                   "Generated", "bertviz", "Attribution", "Contributions", "Base vs adapter"]


def every_snippet() -> dict[str, snippets.Snippet]:
    grid = {"template": "Say {w}: " + AWKWARD, "rows": [{"w": AWKWARD}, {"w": "x" * 150}],
            "param_sets": [{"name": "greedy", "max_new_tokens": np.int64(16), "temperature": np.float64(0.0)}],
            "adapters": [None, "demo"], "repeats": 1, "seed": 0, "chat": True, "system": AWKWARD, "batch_size": 8,
            "endpoints": []}
    made = {f"attention {v}": snippets.attention_code(SPEC, AWKWARD, view=v, layer=3, head=2, max_tokens=512,
                                                      chat=False, token=4, query=5, picked=[1, 3],
                                                      attribution={"target": " she", "contrast": AWKWARD,
                                                                   "method": "occlusion", "steps": 8},
                                                      notes=snippets.page_only(value_weighted=True))
            for v in ATTENTION_VIEWS}
    made.update({
        "generate": snippets.generate_code(SPEC, AWKWARD, SamplingParams(max_new_tokens=8, temperature=0.7, top_k=5),
                                           chat=True, system=AWKWARD, seed=3, adapter="demo"),
        "grid": snippets.grid_code(SPEC, grid),
        "evaluate": snippets.evaluate_code(SPEC, "/data/it's here.jsonl", ["exact_match", "chrf"], [None, "demo"],
                                           limit=3, options={"batch_size": 4, "max_new_tokens": 8}),
        "bias": snippets.bias_code(SPEC, "bold-sentiment", {"limit": 4, "seed": 1, "domain": "race",
                                                            "max_new_tokens": 10, "fixed": 1}, adapter="demo"),
        "compare": snippets.compare_code(SPEC, "demo", AWKWARD, chat=True, max_new_tokens=8,
                                         attention={"text": AWKWARD, "measure": "js", "max_tokens": 64}),
        "finetune": snippets.finetune_code({"model": "smollm2-135m-instruct", "data": "/d/it's.jsonl",
                                            "adapter_name": "dates-lora", "task": "causal", "rank": 4,
                                            "target_modules": ["q_proj", "v_proj"], "max_steps": 150}),
    })
    return made


@pytest.mark.parametrize("name", list(every_snippet()))
def test_every_snippet_is_valid_python_that_imports_the_api(name):
    code = every_snippet()[name].code
    compile(code, name, "exec")
    assert code.splitlines()[len(every_snippet()[name].notes)] == "import workbench as wb"


def called_api(code: str) -> set[str]:
    return {node.func.attr for node in ast.walk(ast.parse(code))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "wb"}


def test_snippets_call_only_functions_the_api_exports():
    import workbench as wb

    calls = set().union(*(called_api(s.code) for s in every_snippet().values()))
    assert calls <= set(wb.__all__) and {"load", "attention", "generate", "grid", "evaluate", "bias", "compare",
                                         "finetune"} <= calls


def test_values_are_written_so_they_read_back_the_same():
    code = every_snippet()["generate"].code
    [call] = [n for n in ast.walk(ast.parse(code))
              if isinstance(n, ast.Call) and getattr(n.func, "attr", None) == "generate"]
    assert ast.literal_eval(call.args[1]) == AWKWARD
    assert {k.arg: ast.literal_eval(k.value) for k in call.keywords} == {
        "max_new_tokens": 8, "temperature": 0.7, "top_k": 5, "chat": True, "system": AWKWARD, "seed": 3,
        "adapter": "demo"}


def test_keywords_at_the_api_default_are_left_out_and_unknown_ones_refused():
    assert snippets.call("generate", snippets.M, "hi", max_new_tokens=32, temperature=0.0, assign="g") == \
        "g = wb.generate(m, 'hi')"
    with pytest.raises(TypeError, match="wb.generate takes no keyword 'fast'"):
        snippets.call("generate", snippets.M, "hi", fast=True)
    with pytest.raises(TypeError, match="cannot write a object"):
        snippets.literal(object())


def test_page_only_settings_are_named_in_a_comment():
    code = every_snippet()["attention One head"].code
    assert code.startswith("# Page-only settings, not in the API: value weighted.\n")


def test_greedy_prompt_lab_snippet_prints_the_pages_text(smollm2):
    params = SamplingParams(max_new_tokens=12)
    prompt = "Name a colour of the sky, in one word."
    stream = stream_generation(smollm2, prompt, params, chat=True, system=None, seed=0)  # the page's core call
    "".join(stream)
    code = snippets.generate_code(smollm2.spec, prompt, params, chat=True, system=None, seed=0).code
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "snippet", "exec"), {})  # noqa: S102 -- the snippet a user copies, run as they would
    assert stream.result.text and printed.getvalue() == stream.result.text + "\n"


def test_the_attribution_snippet_passes_the_target_as_wb_attribute_s_keyword():
    code = snippets.attention_code(SPEC, "The nurse said that", view="Attribution", layer=0, head=0, max_tokens=64,
                                   chat=False, attribution={"target": " she", "contrast": " he", "method": "gxi",
                                                            "steps": 32, "adapter": "demo"}).code
    compact = "".join(code.split())
    assert "r=wb.attribute(m,'Thenursesaidthat',target='she',contrast='he',method='gxi',adapter='demo'," \
           "panel=True" in compact
