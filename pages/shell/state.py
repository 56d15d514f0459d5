"""Inputs kept across pages: a widget's value outliving the page, kept values fitted to new bounds, a data editor's
table outliving the page, a button that opens another page with some of its inputs set, and the line that says an
output is older than the inputs on screen."""

import streamlit as st

from pages.shell.navigation import GOTO_KEY, ROOT
from workbench import stale


def remembered(key: str, default):
    """Seed a widget's value from a copy that outlives the page (Streamlit drops state of widgets not drawn).

    Use as `st.number_input(..., key=ui.remembered("k", 3))` with no value argument on the widget."""
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(f"keep_{key}", default)
    st.session_state[f"keep_{key}"] = st.session_state[key]
    return key


def fit_kept(key: str, low=None, high=None, *, options=None) -> str:
    """For a kept widget whose bounds or choices depend on the input (a token range, a layer of another model):
    bring the kept value back into [low, high] (both ends of a range too), or drop it when it is no longer among
    `options`, before the widget is drawn. Returns the key, to pass as `key=`."""
    if key not in st.session_state:
        return key
    value = st.session_state[key]
    if options is not None:
        if value not in list(options):
            del st.session_state[key]
        return key

    def clamp(v):
        return min(max(v, low), high)

    st.session_state[key] = tuple(clamp(v) for v in value) if isinstance(value, (tuple, list)) else clamp(value)
    return key


def open_page(file: str, label: str, preset: dict, *, key: str, where=st, help_text: str | None = None) -> None:
    """A button that opens another page (a file under pages/) with some of its inputs set: the flows between
    pages (a finished fine-tune -> Evaluate, a Compare head -> Attention). `preset` maps the target page's widget
    keys to values; they are kept the way the page keeps its own inputs (see `remembered`)."""
    if where.button(label, key=key, icon=":material/arrow_forward:", help=help_text):
        for name, value in preset.items():
            st.session_state[name] = value
            st.session_state[f"keep_{name}"] = value
        # Not st.switch_page here: from inside a fragment with run_every (Fine-tune's jobs panel) the fragment's
        # next tick raced the switch and left the new page blank. A whole-app rerun makes the switch
        # (`navigation.follow_open_page`, in app.py and in every page's `ensure_shell`).
        st.session_state[GOTO_KEY] = str(ROOT / "pages" / file)
        st.rerun()


def stale_notice(made_with: dict, now: dict, *, where=st) -> None:
    """Under an output: which of the inputs on screen differ from those that made it (`workbench.stale`)."""
    if message := stale.stale_message(stale.changed_inputs(made_with, now)):
        where.warning(message, icon=":material/history:")


def kept_table(key: str, default):
    """Data and widget key for a `st.data_editor` whose edits outlive the page (data editors have no
    persist_state): a fresh editor starts from the last edited table (`keep_table`), or from one put there by
    `reset_table`. Use `data, widget = ui.kept_table("k", df)`, then `ui.keep_table("k", st.data_editor(data,
    key=widget))`."""
    widget = f"{key}_v{st.session_state.get(f'ver_{key}', 0)}"
    if widget not in st.session_state:  # first drawn in this visit of the page
        st.session_state[f"base_{key}"] = st.session_state.get(f"keep_{key}", default)
    return st.session_state[f"base_{key}"], widget


def keep_table(key: str, edited):
    """Remember a data editor's edited table (see `kept_table`); returns it."""
    st.session_state[f"keep_{key}"] = edited
    return edited


def reset_table(key: str, data) -> None:
    """Put `data` in a kept data editor: a new editor (fresh key) starts from it on the next run."""
    st.session_state[f"keep_{key}"] = data
    st.session_state[f"ver_{key}"] = st.session_state.get(f"ver_{key}", 0) + 1
