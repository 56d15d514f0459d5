"""The page guard and the page registry: Streamlit's v1 pages/ mode left on a session's first run, every page run
through app.py, the pages `st.navigation` lists."""

from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

ROOT = Path(__file__).resolve().parents[2]  # the repository: app.py and pages/

# (file under pages/, title, icon). A page shows up in the navigation once its file exists.
PAGES = [
    ("attention.py", "Attention", ":material/grid_view:"),
    ("prompt_lab.py", "Prompt lab", ":material/science:"),
    ("finetune.py", "Fine-tune", ":material/model_training:"),
    ("evaluate.py", "Evaluate", ":material/leaderboard:"),
    ("compare.py", "Compare", ":material/compare:"),
    ("bias.py", "Bias", ":material/balance:"),
]

# Private Streamlit flag (streamlit/runtime/pages_manager.py): v1 (pages/ folder) or v2 (st.navigation) mode.
# Fail loudly on an upgrade that drops it; the e2e test tests/e2e/test_shell_guard.py proves the guard.
assert hasattr(PagesManager, "uses_pages_directory"), "Streamlit changed; revisit ensure_shell"
SHELL_KEY = "_lw_shell_ran"  # set by app.py once per session; pages rerun through app.py until it is there


def _rerun_without_legacy_mpa() -> None:
    # The same assignment st.navigation() makes; st.rerun() keeps the page's script hash, so the v2 rerun
    # resolves the same URL through app.py.
    PagesManager.uses_pages_directory = False
    st.rerun()


def leave_legacy_mpa() -> None:
    """First statement of app.py: leave Streamlit's v1 pages/ mode, on a session's first run before any widget
    exists (so the first change of a sidebar widget is not lost)."""
    if PagesManager.uses_pages_directory and SHELL_KEY not in st.session_state:
        st.session_state[SHELL_KEY] = True
        _rerun_without_legacy_mpa()
    # Later runs only switch the flag: a rerun would drop a button's click. (AppTest sets the flag back before
    # every run; a server only once, at its start.)
    PagesManager.uses_pages_directory = False
    st.session_state[SHELL_KEY] = True


def ensure_shell() -> None:
    """First statement of every page: rerun through app.py when v1 mode ran this page before the session had
    a shell (a direct link, the first request after a server start)."""
    # Only the session's marker counts: once app.py ran, a server never goes back to v1, while AppTest sets the
    # flag back before every run and would lose each button click to the rerun.
    if SHELL_KEY not in st.session_state:
        _rerun_without_legacy_mpa()
    follow_open_page()  # AppTest runs a page without app.py


GOTO_KEY = "_lw_goto"  # the page an `open_page` button asked for


def follow_open_page() -> None:
    """Go to the page an `open_page` button asked for: in app.py after st.navigation (a browser), and first thing
    in a page (`ensure_shell`)."""
    if target := st.session_state.pop(GOTO_KEY, None):
        st.switch_page(target)

def page_objects(home) -> list:
    """The home page plus every page whose file exists, as `st.Page`s for `st.navigation`."""
    pages = [st.Page(home, title="Home", icon=":material/home:", default=True, url_path="home")]
    for file, title, icon in PAGES:
        path = ROOT / "pages" / file
        if path.exists():
            pages.append(st.Page(str(path), title=title, icon=icon))
    return pages
