"""The Attention page's Base vs adapter view under AppTest with a real registered adapter: opened from Compare with
the adapter, text and token preset, it draws each component's change and either graph, and attributes the same
output with both."""

import json

from workbench.models import adapters


def _titles(at) -> list[str]:
    titles = [json.loads(c.proto.spec).get("layout", {}).get("title", {}) for c in at.get("plotly_chart")]
    return [t.get("text", "") if isinstance(t, dict) else str(t) for t in titles]


def test_compare_opens_base_vs_adapter_with_its_adapter_text_and_token(workspace_with_adapter, open_page):
    at = open_page("compare")
    at.number_input(key="cmp_max_new").set_value(2)
    at.button(key="cmp_run").click().run()
    assert not at.exception and not at.error
    text = at.text_area(key="cmp_attn_text").value
    at.button(key="cmp_to_attn_diff").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.text_area(key="attn_text").value == text and at.radio(key="attn_view").value == "Base vs adapter"
    assert at.selectbox(key="attn_diff_adapter").value == "page-lora"
    token = at.number_input(key="attn_diff_token").value
    assert 0 < token < at.session_state["attn_range_of"] - 1          # the prompt's last token, not the text's
    shown = _titles(at)
    assert any(t.startswith(f"Importance change at token {token}") and "page-lora - base" in t for t in shown), shown
    assert any(t.endswith("(base)") for t in shown)
    at.switch_page("pages/attention.py")  # AppTest reruns the page it was given: follow the switch
    at.radio(key="attn_diff_graph_of").set_value("page-lora").run()
    at.radio(key="attn_diff_measure").set_value("change").run()
    shown = _titles(at)
    assert any(t.endswith("(page-lora)") for t in shown) and any("Relative change" in t for t in shown), shown

    at.selectbox(key="attn_diff_method").set_value("gxi").run()
    at.button(key="attn_diff_attr_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    figure = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "gradient x input" in c.proto.spec)
    assert any(t.startswith("gradient x input of the logit") for t in _titles(at))
    assert any("with page-lora" in c.value for c in at.caption)
    assert [d["name"] for d in figure["data"]] == ["base", "page-lora", "page-lora - base"]


def test_base_vs_adapter_asks_for_an_adapter_when_the_base_is_picked(workspace_with_adapter, open_page):
    at = open_page("attention")
    at.radio(key="attn_view").set_value("Base vs adapter").run()
    at.selectbox(key="attn_diff_adapter").select(adapters.BASE_CHOICE).run()
    assert not at.exception and any("Pick an adapter" in i.value for i in at.info)
