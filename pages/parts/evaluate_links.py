"""Evaluate's ways out of a report: one example opened on the Compare page, and the per-example and paired tables
downloaded (a part of pages/evaluate.py, in a subfolder so Streamlit does not list it as a page)."""

import streamlit as st

import pages as ui
from workbench.evaluate import history as eval_history
from workbench.models import LoadedModel, adapters


def open_in_compare(loaded: LoadedModel, report) -> None:
    """One example opened on the Compare page: its prompt through the base and the run's (last) adapter."""
    registered = {a.name for a in adapters.list_adapters(loaded.info.name)}
    tuned = [r.label for r in report.results if r.label in registered]
    prompted = {e.line: e.prompt for e in report.dataset.examples if e.prompt}
    if not tuned or not prompted:
        return
    c = st.columns([1, 2])
    line = c[0].selectbox("Example (line) to open in Compare", list(prompted), persist_state="session",
                          key=ui.fit_kept("ev_to_cmp_line", options=list(prompted)))
    ui.open_page("compare.py", f"Open line {line} in Compare with {tuned[-1]}",
                 {"cmp_prompt": prompted[line], "cmp_adapter": tuned[-1], "cmp_chat": report.options.chat},
                 key="ev_to_cmp", where=c[1], help_text="This prompt through the base and the adapter, side by "
                                                         "side, with the log-prob shift and the attention diff")


def export_buttons(prefix: str, run_id: int, examples, paired) -> None:
    """Per-example rows and paired differences of one run, each as CSV and JSON (spreadsheet-safe CSV)."""
    cols = st.columns(4)
    for i, (what, table) in enumerate((("examples", examples), ("paired", paired))):
        for j, (fmt, mime) in enumerate((("csv", "text/csv"), ("json", "application/json"))):
            label = f"{'Per-example rows' if what == 'examples' else 'Paired differences'} ({fmt.upper()})"
            cols[2 * i + j].download_button(label, eval_history.export_table(table, fmt),
                                            f"evaluation-{run_id}-{what}.{fmt}", mime, key=f"{prefix}_{what}_{fmt}",
                                            disabled=table.empty)
