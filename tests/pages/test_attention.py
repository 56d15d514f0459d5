"""Attention page under Streamlit's AppTest: each view renders for the causal model and the encoder; bad input
is a message, not a traceback."""

import json

import pytest
from streamlit.testing.v1 import AppTest

SHORT = "The cat sat on the mat."
# What each view shows for SHORT at layer 0, head 0: pieces of its figures' titles or its captions.
VIEW_SHOWS = {
    "One head": ["Layer 0, head 0", "Captured in"],
    "All heads": ["Click a head to open it", "layers x"],
    "Statistics": ["entropy by layer and head"],
    "Distance & sinks": ["Layer 0: attention by distance, per head", "Strongest key's share", "sink(s) in"],
    "Aggregates": ["Layer 0: mean over heads", "Attention rollout, layers 0-0"],
    "Token focus": ["attends to", "is attended by", "across layers (mean over heads)"],
    "Row math": ["Layer 0, query head 0"],
}


@pytest.fixture
def attention_page(open_page):
    def _open(model: str | None = None, text: str = SHORT) -> AppTest:
        at = open_page("attention", model=model)
        at.text_area(key="attn_text").input(text).run()
        assert not at.exception, at.exception
        return at

    return _open


def _shown(at: AppTest) -> list[str]:
    """The titles of the page's figures and its captions."""
    titles = [json.loads(c.proto.spec).get("layout", {}).get("title", {}) for c in at.get("plotly_chart")]
    return [t.get("text", "") if isinstance(t, dict) else str(t) for t in titles] + [c.value for c in at.caption]


@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "minilm-l6"])
def test_every_view_renders_without_error(attention_page, model):
    at = attention_page(model)
    assert any(e.label.endswith(" tokens") for e in at.expander)
    for view, pieces in VIEW_SHOWS.items():
        at.radio(key="attn_view").set_value(view).run()
        assert not at.exception, (view, at.exception)
        assert not at.error, (view, [e.value for e in at.error])
        shown = _shown(at)
        assert all(any(piece in s for s in shown) for piece in pieces), (view, shown)
    assert any("rotary" in c.value for c in at.caption) == (model == "smollm2-135m-instruct")


LONGER = ("The old lighthouse keeper climbed the stairs every night. He lit the lamp, watched the sea and wrote in "
          "his log. One stormy night a small boat appeared near the rocks.")


def test_all_heads_zoom_recomputes_the_grid_for_the_token_range_and_sinks_are_listed(attention_page):
    at = attention_page(text=LONGER)
    at.radio(key="attn_view").set_value("All heads").run()
    whole = [c.value for c in at.caption if "layers x" in c.value]
    at.slider(key="attn_range").set_value((10, 34)).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    zoomed = [c.value for c in at.caption if "layers x" in c.value]
    assert zoomed != whole and "tokens 10-33 of" in zoomed[0] and "recomputed for that range" in zoomed[0]
    at.radio(key="attn_view").set_value("Distance & sinks").run()
    assert not at.exception and not at.error
    (table,) = [d for d in at.dataframe if "share" in d.value.columns]
    assert (table.value.key == 0).any()                   # SmolLM2's first token is a sink in many layers


def test_switching_heads_reuses_the_cached_capture(attention_page):
    at = attention_page()
    at.selectbox(key="attn_head").set_value(4).run()
    first = [c.value for c in at.caption if c.value.startswith("Captured in")]
    at.selectbox(key="attn_head").set_value(5).run()
    again = [c.value for c in at.caption if c.value.startswith("Captured in")]
    assert first == again  # same capture object (same recorded seconds): no second forward pass


def test_empty_text_and_truncation_are_messages(attention_page):
    at = attention_page()
    at.number_input(key="attn_max_tokens").set_value(4).run()
    assert any("only the first 4 are shown" in w.value for w in at.warning)
    at.text_area(key="attn_text").input("   ").run()
    assert not at.exception
    assert any("text is empty" in e.value for e in at.error)


def test_bertviz_refuses_oversized_input_with_a_pointer_to_our_views(attention_page):
    at = attention_page(text="word " * 300)
    at.radio(key="attn_view").set_value("bertviz").run()
    at.multiselect(key="attn_bv_layers").set_value([0, 1, 2, 3]).run()
    assert not at.exception
    assert any("One head" in e.value and "MB" in e.value for e in at.error)


@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "minilm-l6"])
def test_value_weighted_toggle_redraws_one_head_and_the_mean_with_the_weighted_rows(attention_page, model):
    at = attention_page(model)
    at.selectbox(key="attn_layer").set_value(1).run()

    def heatmap() -> list[list[float]]:  # the One head view draws one chart
        (chart,) = at.get("plotly_chart")
        return json.loads(chart.proto.spec)["data"][0]["z"]

    raw = heatmap()
    at.toggle(key="attn_vw").set_value(True).run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert "Layer 1, head 0 (value-weighted)" in _shown(at)
    weighted_rows = heatmap()
    assert weighted_rows != raw
    assert all(abs(sum(v for v in row if v is not None) - 1) < 1e-2 for row in weighted_rows)
    at.radio(key="attn_view").set_value("Aggregates").run()
    assert not at.exception and "Layer 1: mean over heads (value-weighted)" in _shown(at)


def test_generated_view_generates_then_steps_through_the_new_tokens(attention_page):
    at = attention_page("smollm2-135m-instruct", "What is the capital of France?")
    at.toggle(key="attn_chat").set_value(True).run()
    at.radio(key="attn_view").set_value("Generated").run()
    at.number_input(key="attn_gen_n").set_value(8).run()
    at.button(key="attn_gen_run").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert any("Generated (" in m.value and "Paris" in m.value for m in at.markdown)
    assert any(t.startswith("Step 0: token ") and "every head" in t for t in _shown(at))
    at.slider(key="attn_gen_step").set_value(5).run()
    assert not at.exception and any(t.startswith("Step 5: token ") for t in _shown(at))
    at.number_input(key="attn_gen_n").set_value(4).run()  # the settings changed: the old result says so
    assert any("changed since this generation" in w.value for w in at.warning)


def test_generated_view_on_an_encoder_says_it_does_not_generate(attention_page):
    at = attention_page("minilm-l6")
    at.radio(key="attn_view").set_value("Generated").run()
    assert not at.exception and any("does not generate" in i.value for i in at.info)


@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "minilm-l6"])
def test_attribution_view_draws_the_method_chart_and_the_faithfulness_panel(attention_page, model):
    at = attention_page(model, text="The nurse said that")
    at.radio(key="attn_view").set_value("Attribution").run()
    assert not at.exception and not at.error
    causal = model == "smollm2-135m-instruct"
    at.text_input(key="attn_attr_target").input(" she" if causal else "a hospital").run()
    at.text_input(key="attn_attr_contrast").input(" he" if causal else "a farm").run()
    at.number_input(key="attn_attr_steps").set_value(4).run()
    at.button(key="attn_attr_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = _shown(at)
    expected = "logit('␣she') - logit('␣he')" if causal else "to 'a hospital' minus to 'a farm'"
    assert any(s.startswith("integrated gradients of the") and expected in s for s in shown), shown
    assert any("Rank correlation" in s for s in shown) and any("row scaled" in s for s in shown)
    assert [m.value for m in [*at.warning, *at.info] if "methods" in m.value]   # agree or disagree, in words
    at.selectbox(key="attn_attr_method").set_value("occlusion").run()
    assert any(s.startswith("occlusion of the") for s in _shown(at))          # no rerun of the model needed
    at.text_input(key="attn_attr_target").input("two words" if causal else "x").run()
    assert any("press Attribute" in w.value for w in at.warning)
    if causal:
        at.button(key="attn_attr_run").click().run()
        assert not at.exception and any("is 2 tokens" in e.value for e in at.error)


def test_contributions_view_draws_the_graph_and_a_click_on_a_head_edge_opens_that_head(attention_page):
    at = attention_page(text="The capital of France is Paris")
    at.radio(key="attn_view").set_value("Contributions").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = _shown(at)
    assert any(s.startswith("Contributions to token") for s in shown), shown
    assert any(s.startswith("Component importance at") for s in shown)
    assert any("tokens it promotes and suppresses" in s for s in shown)
    edges = [c for c in at.caption if "edges above 0.04" in c.value]
    at.slider(key="attn_ctb_threshold").set_value(0.3).run()            # the graph re-walks, no new pass
    fewer = [c for c in at.caption if "edges above 0.3" in c.value]
    assert edges and fewer and int(fewer[0].value.split()[0]) < int(edges[0].value.split()[0])
    figure = json.loads(next(c for c in at.get("plotly_chart") if "Contributions to" in c.proto.spec).proto.spec)
    clickable = [p for trace in figure["data"] for p in trace.get("customdata") or []]
    assert clickable and all(len(p) == 4 for p in clickable)  # [layer, head, source, target] per edge


def test_contributions_view_on_an_encoder_says_why_there_is_no_graph(attention_page):
    at = attention_page("minilm-l6")
    at.radio(key="attn_view").set_value("Contributions").run()
    assert not at.exception and len(at.error) == 1 and "(post-norm)" in at.error[0].value


def test_every_chart_saves_as_svg_from_its_toolbar_and_as_png_from_a_button(attention_page):
    at = attention_page()
    for view in ("One head", "Token focus", "Statistics"):
        at.radio(key="attn_view").set_value(view).run()
        charts = at.get("plotly_chart")
        assert charts
        for c in charts:
            assert json.loads(c.proto.config)["toImageButtonOptions"]["format"] == "svg"
        pngs = [b for b in at.get("download_button") if b.label == "PNG"]
        assert len(pngs) == len(charts)
