"""LLM Workbench entry: navigation, the shared model picker, and the home page (model card, workspace)."""

from pathlib import Path

import pandas as pd
import streamlit as st

import pages as ui
from workbench import trash, workspace
from workbench.store import Store

ui.leave_legacy_mpa()  # before any widget: a pages/ folder starts Streamlit in its v1 mode (see pages/__init__.py)
ui.share_inputs()  # a new tab of this browser starts from the inputs its other tabs have now

ICON = Path(__file__).resolve().parent / "workbench" / "static" / "icon.png"


@st.cache_resource(show_spinner=False)
def cleaned_at_startup() -> bool:
    """Once per server process: crash debris older than an hour, trash older than 30 days (workbench.trash)."""
    trash.startup_cleanup()
    return True


def home() -> None:
    st.title("LLM Workbench")
    st.caption("Look inside language models and change them: attention, prompt experiments, "
               "LoRA fine-tunes, evaluation and bias dashboards, in one place.")
    loaded = ui.current_model()
    info = loaded.info

    st.subheader(f"Model card: {info.name}")
    st.markdown(f"**{info.architecture}** · {info.kind} model · loaded from `{info.source}`")
    cols = st.columns(4)
    cols[0].metric("Hidden size / head dim", f"{info.hidden_size} / {info.head_dim}")
    cols[1].metric("Parameters", f"{info.parameters / 1e6:,.1f} M")
    cols[2].metric("Layers", info.layers)
    cols[3].metric("Heads (key/value)", f"{info.heads} ({info.kv_heads})")
    cols = st.columns(4)
    cols[0].metric("Context length", f"{info.context_length:,}")
    cols[1].metric("Vocabulary", f"{info.vocab_size:,}")
    cols[2].metric("Dtype / device", f"{info.dtype} / {info.device}")
    cols[3].metric("Memory", ui.human_bytes(info.memory_bytes))
    with st.expander("All fields"):
        st.dataframe(pd.DataFrame({"field": list(vars(info)), "value": [str(v) for v in vars(info).values()]}),
                     hide_index=True, width="stretch")
    if info.kv_heads != info.heads:
        st.caption(f"Grouped-query attention: {info.heads} query heads share {info.kv_heads} key/value heads "
                   f"({info.heads // max(info.kv_heads, 1)} query heads per key/value head).")

    st.subheader("Pages")
    for page in st.session_state.get("wb_pages", [])[1:]:
        st.page_link(page)

    st.subheader("Workspace")
    st.write(f"Folder: `{workspace.home()}` (set `WORKBENCH_HOME` to move it; delete it to reset the app).")
    entries = workspace.summary()
    if entries:
        st.dataframe(pd.DataFrame([{"item": e.name, "files": e.files, "size": ui.human_bytes(e.bytes)}
                                   for e in entries]), hide_index=True, width="stretch")
    counts = Store().table_counts()
    st.caption("Store tables: " + ", ".join(f"{name} ({n} rows)" for name, n in counts.items()))


st.set_page_config(page_title="LLM Workbench", page_icon=str(ICON), layout="wide")  # a file: no icon CDN
cleaned_at_startup()
pages = ui.page_objects(home)
st.session_state["wb_pages"] = pages
navigation = st.navigation(pages)
ui.follow_open_page()
with ui.guard("The model picker"):
    ui.sidebar_model()
with ui.guard(f"The {navigation.title} page"):  # no error reaches the browser as a traceback
    ui.store_notice()
    navigation.run()
