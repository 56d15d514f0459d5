"""No traceback reaches the browser: an unexpected exception inside any page (or a core call it makes) is one
message with a details expander, logged to the workspace log; the other pages keep working; a damaged store
that was moved aside is announced once."""

import pytest
from streamlit.runtime.pages_manager import PagesManager

import pages as ui
from workbench import workspace
from workbench.attention import capture
from workbench.store import Store

PAGES = ["attention", "prompt_lab", "finetune", "evaluate", "compare", "bias"]


@pytest.fixture(autouse=True)
def navigation_as_a_server_does(monkeypatch):
    """AppTest puts Streamlit back in its v1 pages/ mode before every run, which runs a page without app.py;
    a server leaves that mode once for good (ui.leave_legacy_mpa). Here every run goes through app.py's
    st.navigation, and so through the guard around the page, as in the browser."""
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def _assert_caught(at, where: str) -> None:
    assert not at.exception, at.exception  # AppTest's view of a traceback in the page
    assert any(f"{where} failed unexpectedly: RuntimeError: injected" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert any(x.label == "Details" for x in at.expander)


@pytest.mark.parametrize("page", PAGES)
def test_an_unexpected_error_in_a_page_is_a_message_with_details_and_is_logged(page, workspace_home, open_page,
                                                                               monkeypatch):
    at = open_page(page)
    broken = RuntimeError("injected")

    def fail(*_args, **_kwargs):
        raise broken

    monkeypatch.setattr(ui, "current_model", fail)  # the first thing every page asks the shell for
    at.run()
    _assert_caught(at, "page")
    assert "injected" in workspace.log_file().read_text()
    monkeypatch.undo()
    at.run()
    assert not at.exception and not any("failed unexpectedly" in e.value for e in at.error)  # works again


def test_a_failing_core_call_inside_the_attention_page_is_caught(workspace_home, open_page, monkeypatch):
    at = open_page("attention")

    def fail(*_args, **_kwargs):
        raise RuntimeError("injected")

    monkeypatch.setattr(capture, "capture_attention", fail)
    at.text_area(key="attn_text").input("A different text, so nothing cached is reused.").run()
    _assert_caught(at, "The Attention page")


def test_a_store_moved_aside_is_announced_once_per_session(workspace_home, open_page):
    Store().log_event("store_moved_aside", moved_to="/ws/store.corrupt-1.sqlite", reason="file is not a database")
    at = open_page(None)
    assert any("moved aside to /ws/store.corrupt-1.sqlite" in w.value for w in at.warning)
    at.run()
    assert not any("moved aside" in w.value for w in at.warning)


def test_served_beyond_loopback_the_risky_loading_options_are_off_unless_allowed(workspace_home, open_page,
                                                                                monkeypatch, tmp_path):
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = open_page(None)
        for key in ("wb_allow_download", "wb_trust_remote_code", "wb_allow_pickle"):
            assert at.checkbox(key=key).disabled, key
        assert any("listens beyond this machine" in c.value for c in at.caption)
        at.selectbox(key="wb_model_choice").select(ui.OTHER).run()
        at.text_input(key="wb_model_custom").input(str(tmp_path)).run()
        assert any("Loading a folder on the server is off" in e.value for e in at.error)
        monkeypatch.setenv(ui.RISKS_ENV, "1")
        at.run()
        assert not at.checkbox(key="wb_trust_remote_code").disabled
    finally:
        config.set_option("server.address", before)
    assert not open_page(None).checkbox(key="wb_trust_remote_code").disabled  # loopback: the user decides
