"""Evaluate and Compare pages under Streamlit's AppTest with a real random LoRA adapter in the workspace."""

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from workbench.models import adapters

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def workspace_with_adapter(smollm2, tmp_path_factory):
    """A workspace holding one registered random adapter for SmolLM2, for the whole module."""
    import importlib.util

    # The helper lives in tests/evaluate/test_run.py; load it by path (tests/e2e has a namesake).
    helper = Path(__file__).parents[1] / "evaluate" / "test_run.py"
    spec = importlib.util.spec_from_file_location("unit_test_evaluate", helper)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    make_random_adapters = module.make_random_adapters

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_HOME", str(tmp_path_factory.mktemp("eval-page-home")))
        make_random_adapters(smollm2, ["page-lora"])
        yield os.environ["WORKBENCH_HOME"]


def open_page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page(f"pages/{name}.py").run()
    assert not at.exception
    return at


def test_evaluate_page_scores_base_and_adapter_and_records_the_run(workspace_with_adapter):
    at = open_page("evaluate")
    assert at.multiselect(key="ev_models").value == [adapters.BASE_CHOICE, "page-lora"]
    at.selectbox(key="ev_set").select("eval_facts.jsonl")
    at.multiselect(key="ev_metrics").set_value(["perplexity", "exact_match"])
    at.number_input(key="ev_limit").set_value(3)
    at.number_input(key="ev_max_new").set_value(3)
    at.number_input(key="ev_resamples").set_value(200)
    at.button(key="ev_run").click().run()
    assert not at.exception and not at.error
    assert any("eval_facts: 3 examples" in s.value for s in at.subheader)
    verdicts = at.dataframe[1].value  # the paired-difference table
    assert set(verdicts["model"]) == {"page-lora"} and set(verdicts["key"]) == {"perplexity", "exact_match"}
    assert "run_id" in at.dataframe[-1].value.columns  # history lists the run


def test_evaluate_page_reports_bad_metric_for_text_set(workspace_with_adapter):
    at = open_page("evaluate")
    at.selectbox(key="ev_set").select("eval_text.txt")
    at.multiselect(key="ev_metrics").set_value(["bleu"])
    at.button(key="ev_run").click().run()
    assert not at.exception
    assert any("eval_text.txt:1, field `reference`: bleu compares" in e.value for e in at.error)


def test_compare_page_shows_both_outputs_shift_and_attention_diff(workspace_with_adapter):
    at = open_page("compare")
    assert at.selectbox(key="cmp_adapter").value == "page-lora"
    at.number_input(key="cmp_max_new").set_value(4)
    at.button(key="cmp_run").click().run()
    assert not at.exception and not at.error
    assert len(at.code) == 4  # base/adapter x greedy/sampled
    assert any("Total shift" in c.value for c in at.caption)
    at.number_input(key="cmp_attn_max").set_value(16)
    at.button(key="cmp_attn_run").click().run()
    assert not at.exception and not at.error
    assert any("Click a cell" in c.value for c in at.caption)
