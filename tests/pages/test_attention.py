"""Attention page under Streamlit's AppTest: each view renders for the causal model and the encoder; bad input
is a message, not a traceback."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
SHORT = "The cat sat on the mat."


def _page(model: str = "smollm2-135m-instruct", text: str = SHORT) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240).run()
    if model != "smollm2-135m-instruct":
        at.selectbox(key="wb_model_choice").select(model).run()
    at.switch_page("pages/attention.py").run()
    at.text_area(key="attn_text").input(text).run()
    assert not at.exception, at.exception
    return at


def _chart_count(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "minilm-l6"])
def test_every_view_renders_without_error(model):
    at = _page(model)
    assert any("tokens" in e.label for e in at.expander)
    for view in ["One head", "All heads", "Statistics", "Aggregates", "Token focus", "Row math"]:
        at.radio(key="attn_view").set_value(view).run()
        assert not at.exception, (view, at.exception)
        assert not at.error, (view, [e.value for e in at.error])
        assert _chart_count(at) >= 1, view
    assert any("rotary" in c.value for c in at.caption) == (model == "smollm2-135m-instruct")


def test_switching_heads_reuses_the_cached_capture():
    at = _page()
    at.selectbox(key="attn_head").set_value(4).run()
    first = [c.value for c in at.caption if c.value.startswith("Captured in")]
    at.selectbox(key="attn_head").set_value(5).run()
    again = [c.value for c in at.caption if c.value.startswith("Captured in")]
    assert first == again  # same capture object (same recorded seconds): no second forward pass


def test_empty_text_and_truncation_are_messages():
    at = _page()
    at.number_input(key="attn_max_tokens").set_value(4).run()
    assert any("only the first 4 are shown" in w.value for w in at.warning)
    at.text_area(key="attn_text").input("   ").run()
    assert not at.exception
    assert any("text is empty" in e.value for e in at.error)


def test_bertviz_refuses_oversized_input_with_a_pointer_to_our_views():
    at = _page(text="word " * 300)
    at.radio(key="attn_view").set_value("bertviz").run()
    at.multiselect(key="attn_bv_layers").set_value([0, 1, 2, 3]).run()
    assert not at.exception
    assert any("One head" in e.value and "MB" in e.value for e in at.error)
