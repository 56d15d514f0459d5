"""Deletes that ask first and go to the workspace trash, with an Undo; the trash list to restore from."""

import pandas as pd
import streamlit as st

from workbench import trash


def ask_delete(key: str, target) -> None:
    """First step of a delete: remember exactly what the click was about (`target`); `confirm_delete` asks next."""
    st.session_state[f"{key}_confirm"] = target
    st.rerun()


def confirm_delete(key: str, what: str, delete) -> None:
    """Second step of every delete, shown while one is asked: names exactly what goes, and on yes calls `delete()`
    (which moves it to the workspace trash and returns the `TrashItem`, or a list of them), then leaves a notice
    with an Undo."""
    st.warning(f"Delete {what}? It moves to the workspace trash, from where it can be restored.",
               icon=":material/delete:")
    c = st.columns([1, 1, 4])
    if c[0].button("Move to trash", key=f"{key}_yes", type="primary"):
        st.session_state.pop(f"{key}_confirm", None)
        moved = delete()
        st.session_state[f"{key}_moved"] = moved if isinstance(moved, list) else [moved]
        st.rerun()
    if c[1].button("Cancel", key=f"{key}_no"):
        st.session_state.pop(f"{key}_confirm", None)
        st.rerun()


def trash_notice(key: str) -> None:
    """'Moved … to the trash' with an Undo, after a delete confirmed on this page."""
    restored = st.session_state.pop(f"{key}_restored", None)
    if restored:
        st.success(f"Restored {trash.labels(restored)}.", icon=":material/restore_from_trash:")
    items = [i for i in st.session_state.get(f"{key}_moved", []) if (trash.trash_dir() / i.id).is_dir()]
    if not items:  # none asked, or restored or emptied from the Trash list since
        st.session_state.pop(f"{key}_moved", None)
        return
    c = st.columns([5, 1])
    c[0].success(f"Moved {trash.labels(items)} to the trash.", icon=":material/delete:")
    if c[1].button("Undo", key=f"{key}_undo"):
        st.session_state.pop(f"{key}_moved")
        st.session_state[f"{key}_restored"] = [trash.restore(i) for i in items]
        st.rerun()


def trash_list(prefix: str) -> None:
    """The workspace trash in an expander: restore one item, or empty it for good after asking. A restored adapter
    is picked in the registry panel (`<prefix>_adapter_next`); the outcome is its flash (`<prefix>_flash`)."""
    items = trash.list_items()
    with st.expander(f"Trash ({len(items)})", expanded=bool(items)):
        if not items:
            st.caption(f"Empty. Deleted adapters, jobs and history records wait here for {trash.KEEP_DAYS} days.")
            return
        st.dataframe(pd.DataFrame(trash.table_rows(items)), hide_index=True, width="stretch",
                     key=f"{prefix}_trash_table")
        by_id = {i.id: i for i in items}
        if st.session_state.get(f"{prefix}_trash_pick") not in by_id:
            st.session_state[f"{prefix}_trash_pick"] = items[0].id
        c = st.columns([3, 1, 1])
        picked = c[0].selectbox("Item", list(by_id), format_func=lambda i: by_id[i].label, persist_state="session",
                                key=f"{prefix}_trash_pick")
        if c[1].button("Restore", key=f"{prefix}_trash_restore"):
            item = trash.restore(picked)
            if item.kind == "adapter":
                st.session_state[f"{prefix}_adapter_next"] = item.name
            st.session_state[f"{prefix}_flash"] = f"Restored {item.label}."
            st.rerun()
        if c[2].button("Empty trash", key=f"{prefix}_trash_empty"):
            st.session_state[f"{prefix}_trash_confirm"] = True
        if st.session_state.get(f"{prefix}_trash_confirm"):
            confirm_empty(len(items), prefix)


def confirm_empty(count: int, prefix: str) -> None:
    st.warning(f"Remove the {count} item(s) in the trash for good? This cannot be undone.")
    c = st.columns([1, 1, 4])
    if c[0].button("Empty for good", key=f"{prefix}_trash_empty_yes", type="primary"):
        st.session_state[f"{prefix}_flash"] = f"Removed {len(trash.empty(older_than_days=0))} item(s) for good."
    elif not c[1].button("Keep them", key=f"{prefix}_trash_empty_no"):
        return
    st.session_state.pop(f"{prefix}_trash_confirm", None)
    st.rerun()
