"""Prompt lab's History tab: stored runs listed, filtered, re-run, diffed, deleted, exported, and opened again with
their inputs back in the Generate or Grid tab (a part of pages/prompt_lab.py, in a subfolder so Streamlit does not
list it as a page)."""

import pandas as pd
import streamlit as st

import pages as ui
from workbench import notebook_export
from workbench.errors import WorkbenchError
from workbench.models import LoadedModel, adapters
from workbench.prompt_lab import history as experiments
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.grid import template_variables


def open_run(run_id: int, loaded: LoadedModel) -> None:
    """History -> Open (a button callback, so before the widgets are drawn): the run's inputs back in their widgets
    and its output shown again, as when it was made. An error waits in the state for the History tab to show."""
    try:
        _open_run(experiments.get_run(run_id), loaded)
    except WorkbenchError as err:
        st.session_state["pl_open_failed"] = err


def _open_run(run: experiments.Run, loaded: LoadedModel) -> None:
    spec, state = run.spec, st.session_state
    state.update(pl_chat=spec["chat"], pl_system=spec.get("system") or "", keep_pl_chat=spec["chat"])
    if run.kind == "grid":
        grid, result = experiments.stored_grid(run)
        names = template_variables(grid.template)
        ui.reset_table(f"pl_rows_{'_'.join(names)}", pd.DataFrame([dict(r) for r in grid.rows]) if names
                       else pd.DataFrame({"(no variables)": [""] * len(grid.rows)}))
        ui.reset_table("pl_sets", pd.DataFrame([{"name": p.label, **{k: v for k, v in p.to_dict().items()
                                                                     if k != "name"}} for p in grid.param_sets]))
        state.update(pl_template=grid.template, pl_repeats=grid.repeats, pl_grid_seed=grid.seed,
                     pl_batch=grid.batch_size, pl_grid=(run.id, result, grid),
                     pl_grid_ad=[a or adapters.BASE_CHOICE for a in grid.adapters])
        state["keep_pl_grid_ad"] = state["pl_grid_ad"]
        state["pl_opened"] = f"Opened run {run.id}: its template, rows and settings are in the Grid tab."
        return
    p = spec["params"]
    state.update(pl_prompt=spec["prompt"], pl_seed=spec["seed"], pl_fast=bool(spec.get("fast")),
                 pl_max=p["max_new_tokens"], pl_temp=p["temperature"], pl_topk=p["top_k"], pl_topp=p["top_p"],
                 pl_rp=p["repetition_penalty"], pl_adapter=spec.get("adapter") or adapters.BASE_CHOICE,
                 pl_ep_use=bool(spec.get("endpoint")))
    state["keep_pl_adapter"] = state["pl_adapter"]
    state.pop("pl_last", None)  # an endpoint's run has no local output to open
    if not spec.get("endpoint"):
        state["pl_last"] = {"gen": experiments.stored_generation(loaded, run), "params": SamplingParams(**p),
                            "adapter": spec.get("adapter"), "run": run.id,
                            "inputs": {"prompt": spec["prompt"], "sampling settings": SamplingParams(**p),
                                       "seed": spec["seed"], "chat template": spec["chat"],
                                       "system prompt": spec.get("system") or None, "adapter": spec.get("adapter"),
                                       "fast mode": bool(spec.get("fast"))}}
    state["pl_opened"] = f"Opened run {run.id}: its prompt and settings are in the Generate tab."


def history_tab(loaded: LoadedModel) -> None:
    """The History tab's widgets and tables."""
    ui.trash_notice("pl_h")
    if asked := st.session_state.get("pl_h_confirm"):
        ui.confirm_delete("pl_h", "history " + ", ".join(f"run {i}" for i in asked),
                          lambda: [experiments.delete_run(i) for i in asked])
    cols = st.columns(3)
    kind = cols[0].selectbox("Kind", ["all", "generate", "grid"], persist_state="session", key="pl_h_kind")
    contains = cols[1].text_input("Contains", persist_state="session", key="pl_h_text")
    runs = experiments.list_runs(model=loaded.info.name, kind=None if kind == "all" else kind, contains=contains)
    st.dataframe(pd.DataFrame(experiments.runs_table(runs)), hide_index=True, key="pl_h_table")
    ids = [r.id for r in runs]
    st.session_state["pl_h_pick"] = [i for i in st.session_state.get("pl_h_pick", []) if i in ids]  # none deleted
    picked = cols[2].multiselect("Runs", ids, persist_state="session", key="pl_h_pick", max_selections=2)
    if opened := st.session_state.pop("pl_opened", None):
        st.success(opened, icon=":material/open_in_browser:")
    if failed := st.session_state.pop("pl_open_failed", None):
        ui.show_error(failed)
    cols = st.columns(7)
    cols[6].button("Open", key="pl_h_open", disabled=len(picked) != 1, on_click=open_run,
                   args=((picked or [0])[0], loaded),
                   help="Put this run's inputs back in the Generate or Grid tab and show its output there")
    if cols[0].button("Re-run", key="pl_h_rerun", disabled=len(picked) != 1):
        with ui.model_turn(loaded, hold=False):  # a generation streams: its own thread takes the model
            new_id = experiments.rerun(loaded, experiments.get_run(picked[0]))
        st.success(f"Stored as run {new_id}.")
        picked = [picked[0], new_id]
    if cols[1].button("Diff", key="pl_h_compare", disabled=len(picked) != 2) or len(picked) == 2:
        a, b = (experiments.get_run(i) for i in picked)
        st.dataframe(pd.DataFrame(experiments.diff_runs(a, b)), hide_index=True, key="pl_h_cmp")
    if cols[2].button("Delete", key="pl_h_delete", disabled=not picked):
        ui.ask_delete("pl_h", list(picked))
    cols[3].download_button("Export CSV", experiments.export_runs(runs, "csv"), "prompt-lab.csv", "text/csv")
    cols[4].download_button("Export JSON", experiments.export_runs(runs, "json"), "prompt-lab.json",
                            "application/json")
    ui.notebook_download((lambda: notebook_export.prompt_run_notebook(experiments.get_run(picked[0])))
                         if len(picked) == 1 else None, f"prompt-lab-run-{picked[0] if picked else ''}.ipynb",
                         "pl_h_ipynb", where=cols[5])
