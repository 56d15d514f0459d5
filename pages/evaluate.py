"""Evaluate: the base and its adapters on one set; scores with intervals, paired differences, examples, history."""

from dataclasses import replace

import streamlit as st

import pages as ui
from pages.parts.evaluate_links import export_buttons, open_in_compare
from workbench import notebook_export, snippets
from workbench.errors import WorkbenchError
from workbench.evaluate import figures as plots
from workbench.evaluate import history as eval_history
from workbench.evaluate.metrics import METRICS, higher_is_better
from workbench.evaluate.run import EvalOptions, evaluate_models, example_table
from workbench.evaluate.sets import bundled_sets, parse_eval_set, read_eval_set
from workbench.models import adapters

ui.ensure_shell()  # first: a page reached in Streamlit's v1 mode reruns through app.py

UPLOAD = "Upload a file…"

st.title("Evaluate")
st.caption("Score the base model and its LoRA adapters on one set. Adapters are switched over one loaded base, "
           "never reloaded. Intervals are bootstrap 95%; differences use a paired bootstrap, so a gap inside "
           "the noise is not read as a ranking.")
loaded = ui.current_model(kinds=("causal",))

left, right = st.columns(2)
with left:
    chosen = ui.adapter_picker(loaded, "ev_models", label="Models", multiple=True,
                               help_text="The base model and any adapters registered for it.")
folders = left.text_input("More adapter folders (comma-separated)", persist_state="session", key="ev_folders",
                          placeholder="/path/to/adapter")
extra_folders = [f.strip() for f in folders.split(",") if f.strip()]
sets = {p.name: p for p in bundled_sets()}
set_choice = right.selectbox("Evaluation set", list(sets) + [UPLOAD], persist_state="session",
                             key=ui.fit_kept("ev_set", options=list(sets) + [UPLOAD]),
                             help="JSONL with prompt/reference rows (or text rows), or TXT texts separated by "
                                  "blank lines.")
upload = right.file_uploader("JSONL or TXT", type=["jsonl", "txt"], key="ev_upload") \
    if set_choice == UPLOAD else None
metrics = right.multiselect("Metrics", list(METRICS), default=["perplexity", "exact_match", "chrf"],
                            persist_state="session", key="ev_metrics")
with st.expander("Options"):
    cols = st.columns(4)
    limit = cols[0].number_input("First N examples (0: all)", 0, 100_000, 0, persist_state="session", key="ev_limit")
    batch_size = cols[1].number_input("Batch size", 1, 256, 8, persist_state="session", key="ev_batch")
    max_new = cols[2].number_input("Max new tokens (0: auto)", 0, 1024, 0, persist_state="session", key="ev_max_new")
    resamples = cols[3].number_input("Bootstrap resamples", 100, 20_000, 1000, step=100, persist_state="session",
                                     key="ev_resamples")
    cols = st.columns(4)
    window = cols[0].number_input("Perplexity window (0: context)", 0, 32_768, 0, persist_state="session",
                                  key="ev_window")
    stride = cols[1].number_input("Stride (0: half the window)", 0, 32_768, 0, persist_state="session", key="ev_stride")
    chat = cols[2].checkbox("Chat template", persist_state="session", key="ev_chat",
                            help="Wrap prompts in the model's chat template.")
    add_bos = cols[3].checkbox("Condition on BOS", value=True, persist_state="session", key="ev_bos",
                               help="SmolLM2's tokenizer declares <|im_start|> as BOS but never adds it.")


endpoint = ui.endpoint_form("ev_ep", "Score an OpenAI-compatible endpoint too (hosted or local server)")
if endpoint is not None:
    st.caption(f"**{endpoint.label}** is scored beside the models above on BLEU, chrF, ROUGE and exact match "
               "(greedy, each prompt as a chat message); perplexity needs the reference's log-probabilities, "
               "which chat endpoints do not return.")


inputs = {"models": [a.name if a else adapters.BASE_CHOICE for a in chosen] + extra_folders
          + ([endpoint.label] if endpoint else []), "evaluation set": upload.name if upload else set_choice,
          "metrics": metrics, "first N examples": int(limit), "max new tokens": int(max_new),
          "bootstrap resamples": int(resamples), "perplexity window": int(window), "stride": int(stride),
          "chat template": chat, "BOS": add_bos}


def chosen_models() -> list:
    return list(chosen) + [adapters.read_adapter(f) for f in extra_folders] + ([endpoint] if endpoint else [])


def load_set():
    if set_choice != UPLOAD:
        return read_eval_set(sets[set_choice])
    if upload is None:
        st.info("Upload a JSONL or TXT evaluation set.")
        st.stop()
    return parse_eval_set(upload.getvalue().decode("utf-8", errors="replace"), upload.name)


ui.copy_as_code(snippets.evaluate_code(
    loaded.spec, upload.name if upload is not None else sets.get(set_choice, "your_set.jsonl"), metrics,
    [a.name if a else None for a in chosen] + extra_folders, limit=int(limit),
    options={"batch_size": int(batch_size), "chat": chat, "add_bos": add_bos, "max_new_tokens": int(max_new),
             "window": int(window), "stride": int(stride), "resamples": int(resamples)},
    notes=snippets.page_only(uploaded_file=set_choice == UPLOAD, endpoint=endpoint is not None)))


if st.button("Run evaluation", type="primary", key="ev_run"):
    try:
        dataset = load_set()
        if limit:
            dataset = replace(dataset, examples=dataset.examples[:int(limit)])
        options = EvalOptions(batch_size=int(batch_size), chat=chat, add_bos=add_bos, max_new_tokens=int(max_new),
                              window=int(window), stride=int(stride), resamples=int(resamples))
        model_list = chosen_models()
        st.button("Cancel", key="ev_cancel")  # a click re-runs the page, which stops the evaluation
        bar = st.progress(0.0, text="Starting")
        with ui.model_turn(loaded):
            report = evaluate_models(loaded, model_list, dataset, metrics, options,
                                     progress=lambda f, msg: bar.progress(min(f, 1.0), text=msg))
        bar.empty()
        st.session_state["ev_report"], st.session_state["ev_inputs"] = report, inputs
        st.session_state["ev_run_id"] = eval_history.save_run(report)
        st.rerun()
    except WorkbenchError as err:
        ui.show_error(err)
elif st.session_state.get("ev_cancel"):
    st.warning("Evaluation cancelled; nothing was recorded.")

report = st.session_state.get("ev_report")
if report is not None:
    st.subheader(f"{report.dataset.name}: {len(report.dataset)} examples (run #{st.session_state['ev_run_id']})")
    ui.stale_notice(st.session_state.get("ev_inputs", inputs), inputs)
    for note in report.warnings:  # lengths cut to the context, metrics an endpoint cannot give
        st.warning(note, icon=":material/content_cut:")
    scores = plots.scores_table(report.results)
    ui.chart(plots.score_bars(scores), width="stretch", key="ev_bars")
    wide = scores.assign(shown=[f"{v:.4g} [{lo:.4g}, {hi:.4g}]" for v, lo, hi in
                                zip(scores["value"], scores["low"], scores["high"])])
    st.dataframe(wide.pivot(index="model", columns="key", values="shown").fillna("—"), width="stretch")
    if not report.comparisons.empty:
        ui.chart(plots.difference_forest(report.comparisons), width="stretch", key="ev_forest")
        paired = report.comparisons.assign(verdict=["clear" if c else "within noise"
                                                    for c in report.comparisons["clear"]])
        st.dataframe(paired.style.format("{:.4g}", subset=list(paired.select_dtypes("float").columns)),
                     hide_index=True, width="stretch")
    st.subheader("Examples")
    keys = [k for k in report.results[0].per_example.columns if k not in ("line", "output", "nll", "tokens")]
    key = st.selectbox("Score", keys, persist_state="session", key=ui.fit_kept("ev_example_key", options=keys),
                       help="Rows are sorted by the change of this score (last model minus the first).")
    table = example_table(report, key)
    outputs = [c for c in table.columns if c.startswith("output: ")]

    def highlight(row):
        first = row[outputs[0]] if outputs else None
        return ["background-color: #fff3b0" if c in outputs[1:] and row[c] != first else "" for c in row.index]

    bound = float(table["change"].abs().max() or 1.0) if "change" in table else 1.0

    def change_colour(value):
        rgb = "26,150,65" if (value > 0) == higher_is_better(key) else "215,48,39"  # green: better
        return f"background-color: rgba({rgb},{min(abs(value) / bound, 1) * 0.6:.2f})"

    styled = table.style.apply(highlight, axis=1).format("{:.4g}", subset=list(table.select_dtypes("float").columns))
    if "change" in table:
        styled = styled.map(change_colour, subset=["change"])
    st.dataframe(styled, hide_index=True, width="stretch", height=min(420, 35 * (len(table) + 1) + 3))
    open_in_compare(loaded, report)
    export_buttons("ev_cur", st.session_state["ev_run_id"], eval_history.report_examples(report),
                   eval_history.paired_rows(report))

st.subheader("History")
runs = eval_history.list_runs()
if runs.empty:
    st.caption("No evaluation runs in this workspace yet.")
else:
    st.dataframe(runs, hide_index=True, width="stretch", height=min(250, 35 * (len(runs) + 1) + 3))
    picked = st.multiselect("Runs to export (none: all)", runs["run_id"].tolist(), persist_state="session",
                            key="ev_export_runs")
    history = eval_history.run_scores(picked or None)
    cols = st.columns(3)
    cols[0].download_button("Export CSV", eval_history.export_table(history, "csv"), "evaluations.csv",
                            "text/csv", key="ev_csv")
    cols[1].download_button("Export JSON", eval_history.export_table(history, "json"), "evaluations.json",
                            "application/json", key="ev_json")
    ui.notebook_download((lambda: notebook_export.evaluation_run_notebook(eval_history.get_run(picked[0])))
                         if len(picked) == 1 else None, f"evaluation-run-{picked[0] if picked else ''}.ipynb",
                         "ev_ipynb", where=cols[2])

    detail = st.selectbox("One run's per-example rows and paired differences", runs["run_id"].tolist(),
                          persist_state="session", key=ui.fit_kept("ev_export_run", options=runs["run_id"].tolist()))
    paired = eval_history.stored_paired(detail)
    if paired.empty:
        st.caption(f"Run {detail} has no paired differences (one model, or recorded before they were stored).")
    export_buttons("ev_hist", detail, eval_history.stored_examples(detail), paired)
