"""Deletes that ask first and go to the workspace trash, with an Undo."""

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
