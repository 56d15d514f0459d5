"""Prompt lab page under AppTest: generate, token view, decoding step, grid and history without exceptions."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from workbench.models import adapters

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("pages/prompt_lab.py").run()
    assert not at.exception
    return at


def test_prompt_lab_generates_and_opens_token_views_and_history(workspace_home):
    at = _page()
    assert any(f"active adapter: **{adapters.BASE_CHOICE}**" in c.value for c in at.caption)
    at.number_input(key="pl_max").set_value(6)
    at.button(key="pl_generate").click().run()
    assert not at.exception, at.exception
    assert any("Paris" in m.value for m in at.markdown)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Prompt perplexity"]) > 1
    assert at.slider(key="pl_step").max >= 1
    at.button(key="pl_forward").click().run()
    assert not at.exception and at.slider(key="pl_step").value == 1
    assert len(at.get("plotly_chart")) >= 2
    assert len(at.dataframe) >= 1  # the history table lists the run


def test_grid_without_adapters_is_an_error_naming_the_field(workspace_home):
    at = _page()
    at.multiselect(key="pl_grid_ad").set_value([]).run()
    at.button(key="pl_run_grid").click().run()
    assert not at.exception
    assert any("field `adapters`" in e.value for e in at.error)
