"""Inputs kept across pages: a widget's value outliving the page, kept values fitted to new bounds, a button that
opens another page with some of its inputs set."""

import streamlit as st

from pages.shell.navigation import ROOT


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
        st.switch_page(str(ROOT / "pages" / file))
