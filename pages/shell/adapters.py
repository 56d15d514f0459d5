"""The adapter registry's panel (the Fine-tune page's Adapters tab): the table, one adapter's actions (activate,
delete, export, rename), loading one from a folder, the workspace trash. Widget keys start with the page's prefix."""

from pathlib import Path

import pandas as pd
import streamlit as st

from pages.shell.trash import ask_delete, confirm_delete, trash_list, trash_notice
from workbench.finetune import panels
from workbench.models import adapters


def pick_adapter(rows: list[dict], prefix: str) -> dict:
    """The picker over the same rows as the table; an action that made an adapter selects it for the next run."""
    names = [r["name"] for r in rows]
    key = f"{prefix}_adapter_pick"
    pick = panels.picked_adapter(names, st.session_state.get(key), st.session_state.pop(f"{prefix}_adapter_next", None))
    if pick != st.session_state.get(key):  # set, not dropped: the browser would keep showing the gone one
        st.session_state[key] = pick
    name = st.selectbox("Adapter", names, persist_state="session", key=key)
    return next(r for r in rows if r["name"] == name)


def adapter_actions(row: dict, model: str, prefix: str) -> None:
    name, problem = row["name"], panels.adapter_problem(row)
    if problem:
        st.warning(problem)
    c = st.columns(4)
    refusal = panels.activate_refusal(row, model)
    if c[0].button("Make active", key=f"{prefix}_activate", disabled=refusal is not None, help=refusal):
        adapters.set_active_adapter(model, name)
        st.rerun()
    if c[1].button("Use base model", key=f"{prefix}_deactivate"):
        adapters.set_active_adapter(model, None)
        st.rerun()
    if c[2].button("Delete", key=f"{prefix}_delete"):
        ask_delete(f"{prefix}_adapter", (name, row["path"]))
    zipped = st.session_state.get(f"{prefix}_zip")
    if zipped and zipped[0] == name:
        c[3].download_button("Download zip", zipped[1], file_name=f"{name}.zip", key=f"{prefix}_export")
    elif c[3].button("Export zip", key=f"{prefix}_zip_build", disabled=problem is not None):
        st.session_state[f"{prefix}_zip"] = (name, adapters.export_zip_bytes(name))  # built on request, temp removed
        st.rerun()
    c = st.columns([3, 1])
    broken = problem is not None
    new_name = c[0].text_input("Rename to", persist_state="session", key=f"{prefix}_new_name", disabled=broken)
    if c[1].button("Rename", key=f"{prefix}_rename", disabled=broken) and new_name:
        st.session_state[f"{prefix}_adapter_next"] = adapters.rename(name, new_name.strip()).name
        st.rerun()


def import_form(prefix: str) -> None:
    c = st.columns([3, 2, 1])
    folder = c[0].text_input("Load an adapter from a folder", persist_state="session", key=f"{prefix}_import_path",
                             placeholder="/path/to/adapter")
    import_name = c[1].text_input("Register as", persist_state="session", key=f"{prefix}_import_name")
    if c[2].button("Load", key=f"{prefix}_import") and folder:
        info = adapters.import_adapter(folder, import_name.strip() or Path(folder).name)
        st.session_state[f"{prefix}_adapter_next"] = info.name
        st.session_state[f"{prefix}_flash"] = f"Registered {info.name} (base {info.base_model}, {info.task})."
        st.rerun()  # the table and the picker show it now, selected


def adapters_panel(model: str, active: str | None, prefix: str) -> None:
    """The registry for the loaded base `model` and its `active` adapter, then loading from a folder and the trash."""
    st.markdown(f"Active adapter for **{model}**: **{active or adapters.BASE_CHOICE}**")
    if flash := st.session_state.pop(f"{prefix}_flash", None):
        st.success(flash)
    trash_notice(f"{prefix}_adapter")
    rows = adapters.adapter_rows()
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key=f"{prefix}_adapters_table")
        adapter_actions(pick_adapter(rows, prefix), model, prefix)
        if asked := st.session_state.get(f"{prefix}_adapter_confirm"):
            confirm_delete(f"{prefix}_adapter", f"adapter **{asked[0]}** (`{asked[1]}`)",
                           lambda: adapters.delete(asked[0]))
    else:
        st.info("No adapters yet.")
    import_form(prefix)
    trash_list(prefix)
