"""Which inputs a browser's new tab inherits (pages/shell/sharing.py): the widgets drawn with persist_state, read
from the pages' source; never a button, an upload, a data editor or a chart selection."""

from pages.shell import sharing


def test_kept_inputs_are_found_in_the_source_and_buttons_never_are():
    for key, value in (("pl_prompt", "hi"), ("pl_max", 48), ("pl_chat", True), ("attn_range", (0, 12)),
                       ("ev_models", ["base model (no adapter)"]), ("wb_model_choice", "minilm-l6"),
                       ("pl_adapter", "base model (no adapter)"), ("pl_ep_url", "http://127.0.0.1:1")):
        assert sharing._shareable(key, value), key
    for key, value in (("pl_generate", False), ("bias_run_pronouns", True), ("ev_upload", None),
                       ("attn_grid", {"selection": {}}), ("keep_pl_prompt", "hi"), ("pl_rows_thing_v0", {}),
                       ("pl_last", {"run": 1}), ("_lw_shell_ran", True)):
        assert not sharing._shareable(key, value), key


def test_a_session_without_the_browser_cookie_shares_nothing(workspace_home, open_page):
    at = open_page("prompt_lab")  # AppTest has no cookie: its sessions stay on their own
    at.text_area(key="pl_prompt").set_value("kept only here").run()
    assert not sharing._by_browser
    assert open_page("prompt_lab").text_area(key="pl_prompt").value == "What is the capital of France?"
