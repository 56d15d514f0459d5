"""Evaluate and Compare pages under Streamlit's AppTest with a real random LoRA adapter in the workspace."""

from workbench.models import adapters


def test_evaluate_page_scores_base_and_adapter_and_records_the_run(workspace_with_adapter, open_page):
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
    downloads = [d.proto for d in at.get("download_button")]
    for what in ("Per-example rows", "Paired differences"):  # the run just made, and the run picked in History
        assert sum(d.label.startswith(what) and not d.disabled for d in downloads) == 4
    assert not any(w.value.startswith("Stale") for w in at.warning)
    at.number_input(key="ev_limit").set_value(2).run()
    assert "Stale: changed since this output was made: first N examples. Run again to update it." in [
        w.value for w in at.warning]


def test_evaluate_page_reports_bad_metric_for_text_set(workspace_with_adapter, open_page):
    at = open_page("evaluate")
    at.selectbox(key="ev_set").select("eval_text.txt")
    at.multiselect(key="ev_metrics").set_value(["bleu"])
    at.button(key="ev_run").click().run()
    assert not at.exception
    assert any(e.value.startswith("Bleu compares") and "eval_text.txt, line 1, field reference)" in e.value
               for e in at.error), [e.value for e in at.error]


def test_compare_page_shows_both_outputs_shift_and_attention_diff(workspace_with_adapter, open_page):
    at = open_page("compare")
    assert at.selectbox(key="cmp_adapter").value == "page-lora"
    at.number_input(key="cmp_max_new").set_value(4)
    at.button(key="cmp_run").click().run()
    assert not at.exception and not at.error
    assert len([c for c in at.code if "import workbench as wb" not in c.value]) == 4  # base/adapter x greedy/sampled
    assert any("Total shift" in c.value for c in at.caption)
    at.number_input(key="cmp_attn_max").set_value(16)
    at.button(key="cmp_attn_run").click().run()
    assert not at.exception and not at.error
    assert any("Click a cell" in c.value for c in at.caption)


def test_the_adapter_made_active_is_preselected_and_a_kept_choice_wins_after(workspace_with_adapter, open_page):
    adapters.set_active_adapter("smollm2-135m-instruct", "page-lora")
    try:
        at = open_page("prompt_lab")
        assert at.selectbox(key="pl_adapter").value == "page-lora"
        at.selectbox(key="pl_adapter").select(adapters.BASE_CHOICE).run()
        at.switch_page("pages/bias.py").run()
        assert at.selectbox(key="bias_adapter").value == "page-lora"
        at.switch_page("pages/prompt_lab.py").run()
        assert not at.exception
        assert at.selectbox(key="pl_adapter").value == adapters.BASE_CHOICE  # the user's choice, not the default
    finally:
        adapters.set_active_adapter("smollm2-135m-instruct", None)
