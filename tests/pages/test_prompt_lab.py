"""Prompt lab page under AppTest: generate, token view, decoding step, grid and history; the shared adapter
picker lists the registered adapters after the no-adapter choice and runs the one picked."""

import json

from streamlit.testing.v1 import AppTest

from workbench.models import adapters


def _chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def test_prompt_lab_generates_and_opens_token_views_and_history(workspace_home, open_page):
    at = open_page("prompt_lab")
    assert any(f"active adapter: **{adapters.BASE_CHOICE}**" in c.value for c in at.caption)
    at.number_input(key="pl_max").set_value(6)
    at.button(key="pl_generate").click().run()
    assert not at.exception, at.exception
    assert any("Paris" in m.value for m in at.markdown)
    assert any("+ 6 new tokens" in c.value and "adapter base" in c.value for c in at.caption)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Prompt perplexity"]) > 1
    assert at.slider(key="pl_step").max == 5
    at.button(key="pl_forward").click().run()
    assert not at.exception and at.slider(key="pl_step").value == 1
    titles = _chart_titles(at)
    assert titles[0] == "6 generated tokens, coloured by probability"
    assert titles[1].startswith("Step 1: drew")
    history = at.dataframe[-1].value
    assert history[["kind", "adapters", "new tokens"]].to_dict("records") == [
        {"kind": "generate", "adapters": adapters.BASE_CHOICE, "new tokens": 6}]
    assert "Paris" in history["first output"][0]


def test_grid_without_adapters_is_an_error_naming_the_field(workspace_home, open_page):
    at = open_page("prompt_lab")
    at.multiselect(key="pl_grid_ad").set_value([]).run()
    at.button(key="pl_run_grid").click().run()
    assert not at.exception
    assert any("(setting adapters)" in e.value for e in at.error)


def test_adapter_picker_lists_registered_adapters_and_the_picked_one_runs(workspace_with_adapter, open_page):
    at = open_page("prompt_lab")
    assert at.selectbox(key="pl_adapter").options == [adapters.BASE_CHOICE, "page-lora"]
    assert at.multiselect(key="pl_grid_ad").value == [adapters.BASE_CHOICE]
    at.selectbox(key="pl_adapter").select("page-lora").run()
    assert any("active adapter: **page-lora**" in c.value for c in at.caption)
    at.number_input(key="pl_max").set_value(3)
    at.button(key="pl_generate").click().run()
    assert not at.exception, at.exception
    assert any("adapter page-lora" in c.value for c in at.caption)


def _tab(at: AppTest, label: str):
    return next(t for t in at.tabs if t.label == label)


def test_an_empty_prompt_is_one_error_in_the_generate_tab_and_the_other_tabs_keep_rendering(workspace_home,
                                                                                            open_page):
    at = open_page("prompt_lab")
    at.text_area(key="pl_prompt").set_value("   ")
    at.button(key="pl_generate").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["The prompt is empty (setting prompt)"]
    assert len(_tab(at, "Generate").error) == 1
    history = _tab(at, "History")
    assert not history.error and len(history.dataframe) == 1  # the runs table, empty in a fresh workspace
    assert _tab(at, "Grid").text_area(key="pl_template").value  # the grid's form is there too


def test_a_malformed_template_is_one_error_in_the_grid_tab_and_history_still_renders(workspace_home, open_page):
    at = open_page("prompt_lab")
    at.text_area(key="pl_template").set_value("What is {thing used for?").run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "The template is malformed" in at.error[0].value
    assert len(_tab(at, "Grid").error) == 1
    assert len(_tab(at, "History").dataframe) == 1 and _tab(at, "Generate").button(key="pl_generate")
