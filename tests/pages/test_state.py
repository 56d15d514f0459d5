"""Every input of every page survives a switch to another page and back (issue 12): the pages' value widgets keep
their state for the session (Streamlit's persist_state="session"), so an output never sits under settings that
did not make it. Checked for a set of inputs on each page, through the navigation a browser uses."""

import pytest

# page -> (widget kind, key, new value) typed by the user before leaving the page
INPUTS = {
    "attention": [("text_area", "attn_text", "A different text to look at."), ("number_input", "attn_max_tokens", 300),
                  ("toggle", "attn_hide_first", True), ("radio", "attn_view", "Statistics")],
    "prompt_lab": [("text_area", "pl_prompt", "Name three rivers."), ("number_input", "pl_max", 64),
                   ("number_input", "pl_temp", 0.7), ("text_area", "pl_template", "What is a {thing}?")],
    "finetune": [("number_input", "ft_max_length", 96), ("slider", "ft_val", 0.2)],  # outside the run form
    "evaluate": [("number_input", "ev_limit", 7), ("checkbox", "ev_chat", True), ("number_input", "ev_resamples", 300)],
    "compare": [("text_area", "cmp_prompt", "Kept prompt"), ("number_input", "cmp_max_new", 12)],
    "bias": [("number_input", "bias_seed", 9)],
}


def _set(at, kind: str, key: str, value) -> None:
    widget = getattr(at, kind)(key=key)
    if kind in ("text_area", "text_input"):
        widget.input(value)
    else:
        widget.set_value(value)
    at.run()
    assert not at.exception, at.exception


@pytest.mark.parametrize("page", list(INPUTS))
def test_inputs_survive_a_visit_to_another_page(page, workspace_home, open_page):
    at = open_page(page)
    for kind, key, value in INPUTS[page]:
        _set(at, kind, key, value)
    other = "bias" if page != "bias" else "attention"
    at.switch_page(f"pages/{other}.py").run()
    assert not at.exception, at.exception
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    for kind, key, value in INPUTS[page]:
        got = getattr(at, kind)(key=key).value
        assert got == pytest.approx(value) if isinstance(value, float) else got == value, (key, got, value)


def test_kept_values_that_no_longer_fit_the_input_are_brought_back_into_range(workspace_home, open_page):
    at = open_page("attention")
    at.text_area(key="attn_text").input("one two three four five six seven eight nine ten eleven twelve").run()
    full = at.slider(key="attn_range").value
    at.slider(key="attn_range").set_value((2, full[1])).run()  # zoomed to the end of a 12-word text
    at.selectbox(key="attn_layer").set_value(20).run()
    at.text_area(key="attn_text").input("Short text.").run()  # fewer tokens than the kept range's end
    assert not at.exception, at.exception
    low, high = at.slider(key="attn_range").value
    assert 0 <= low < high <= at.slider(key="attn_range").max
    at.switch_page("app.py").run()  # the home page draws the sidebar model picker under AppTest
    at.selectbox(key="wb_model_choice").select("minilm-l6").run()  # 6 layers: the kept layer 20 is gone
    at.switch_page("pages/attention.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="attn_layer").value in range(6)


def test_a_full_token_range_stays_full_when_the_text_grows(workspace_home, open_page):
    at = open_page("attention")
    at.text_area(key="attn_text").input("Short text.").run()
    assert at.slider(key="attn_range").value == (0, at.slider(key="attn_range").max)
    at.text_area(key="attn_text").input("A much longer text with many more tokens than the first one had.").run()
    assert not at.exception and at.slider(key="attn_range").value == (0, at.slider(key="attn_range").max)
