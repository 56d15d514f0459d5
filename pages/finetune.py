"""Fine-tune: validate data, launch LoRA jobs in their own processes, watch live curves, stop/resume, adapters."""

from pathlib import Path

import pandas as pd
import streamlit as st

import pages as ui
from pages.parts import finetune_controls
from workbench import notebook_export, snippets, workspace
from workbench.errors import WorkbenchError
from workbench.finetune import config, data, form, jobs, panels, preview
from workbench.finetune import figures as plots
from workbench.finetune.config import PRECISIONS, SCHEDULES, field_default, help_text
from workbench.models import adapters

ui.ensure_shell()  # first: a page reached in Streamlit's v1 mode reruns through app.py

st.title("Fine-tune")
loaded = ui.current_model(kinds=("causal", "encoder"))
task = form.task_for(loaded.kind)
active = adapters.active_adapter(loaded.info.name)
st.caption(form.model_caption(loaded.info.name, task, active or adapters.BASE_CHOICE))


@st.cache_data(show_spinner=False, max_entries=20)
def validate(path: str, sha: str, model: str, max_length: int, task: str, _tokenizer) -> preview.DataReport:
    """Everything the data section shows, cached per file content and settings."""
    return preview.data_report(path, _tokenizer, max_length, task)


def pick_data_file() -> Path | None:
    source = st.radio("Data", ["Pick from data/", "Upload"], horizontal=True, persist_state="session", key="ft_source")
    if source == "Upload":
        up = st.file_uploader("JSONL, CSV or TXT", type=["jsonl", "json", "csv", "txt"], key="ft_upload")
        return None if up is None else workspace.save_upload("uploads", up.name, up.getvalue())
    names = sorted(p.name for p in workspace.data_dir().glob("*") if p.suffix in data.SUFFIXES)
    choice = st.selectbox("File in data/", names, index=form.default_file_index(names, task), persist_state="session",
                          key="ft_file")
    return workspace.data_dir() / choice if choice else None


def data_section() -> tuple[Path | None, int, float, bool]:
    path = pick_data_file()
    c = st.columns(2)
    max_length = int(number(c[0], "Max length (tokens)", "max_length", 16, 4096, 16, key="ft_max_length"))
    val_fraction = float(c[1].slider("Validation split", 0.0, 0.5, field_default("validation_fraction"), 0.05,
                                     persist_state="session", key="ft_val", help=help_text("validation_fraction")))
    if path is None:
        return None, max_length, val_fraction, False
    report = validate(str(path), data.file_sha256(path), loaded.info.name, max_length, task, loaded.tokenizer)
    st.markdown(report.summary(path.name, val_fraction))
    if report.errors:
        st.error(report.errors_message())
        st.dataframe(pd.DataFrame(report.errors), hide_index=True, width="stretch", key="ft_errors")
    with st.expander("Preview and token lengths", expanded=not report.errors):
        st.dataframe(pd.DataFrame(report.preview), hide_index=True, width="stretch")
        if report.lengths:
            ui.chart(plots.token_length_histogram(report.lengths, max_length), key="ft_hist")
    return path, max_length, val_fraction, report.usable


def number(col, label: str, name: str, lo, hi, step=None, **kwargs):
    """A number input for one LoraRunConfig field: default and help from the field, value kept across pages."""
    return col.number_input(label, lo, hi, form.form_default(name, task), step, help=help_text(name),
                            persist_state="session", **kwargs)


def settings_form(path: Path, max_length: int, val_fraction: float) -> None:
    modules, v = config.linear_module_names(loaded.model), {}
    with st.form("ft_form"):
        c = st.columns(4)
        v["adapter_name"] = c[0].text_input("Adapter name", form.default_adapter_name(path), persist_state="session",
                                            key="ft_name")
        v["rank"] = number(c[1], "Rank r", "rank", 1, 256, key="ft_rank")
        v["alpha"] = number(c[2], "Alpha", "alpha", 1, 512, key="ft_alpha")
        v["dropout"] = number(c[3], "Dropout", "dropout", 0.0, 0.9, 0.05, key="ft_dropout")
        v["target_modules"] = st.multiselect("Target modules", modules, persist_state="session", key="ft_targets",
                                             default=form.default_targets(loaded.info.model_type, modules),
                                             help=help_text("target_modules"))
        c = st.columns(4)
        v["learning_rate"] = number(c[0], "Learning rate", "learning_rate", 1e-6, 0.5, format="%.5f", key="ft_lr")
        v["schedule"] = c[1].selectbox("Schedule", SCHEDULES, index=SCHEDULES.index(field_default("schedule")),
                                       persist_state="session", key="ft_schedule", help=help_text("schedule"))
        v["warmup_steps"] = number(c[2], "Warm-up steps", "warmup_steps", 0, 10_000, key="ft_warmup")
        v["max_steps"] = number(c[3], "Steps (0: use epochs)", "max_steps", 0, 100_000, key="ft_steps")
        c = st.columns(4)
        v["epochs"] = number(c[0], "Epochs", "epochs", 0.1, 100.0, key="ft_epochs")
        v["batch_size"] = number(c[1], "Batch size", "batch_size", 1, 512, key="ft_batch")
        v["grad_accumulation"] = number(c[2], "Gradient accumulation", "grad_accumulation", 1, 256, key="ft_accum")
        v["eval_every"] = number(c[3], "Validate every (steps)", "eval_every", 1, 10_000, key="ft_eval_every")
        c = st.columns(4)
        v["save_every"] = number(c[0], "Checkpoint every (steps)", "save_every", 1, 10_000, key="ft_save_every")
        v["early_stopping_patience"] = number(c[1], "Early stop patience (0: off)", "early_stopping_patience", 0,
                                              100, key="ft_patience")
        v["response_only"] = c[2].checkbox("Loss on response only", field_default("response_only"),
                                           persist_state="session", key="ft_response_only",
                                           disabled=task == "classification", help=help_text("response_only"))
        qlora_reason = jobs.qlora_unavailable_reason()
        v["quantize_4bit"] = c[3].checkbox("QLoRA (4-bit)", field_default("quantize_4bit"), persist_state="session",
                                           key="ft_qlora", disabled=qlora_reason is not None,
                                           help=qlora_reason or help_text("quantize_4bit"))
        if qlora_reason:
            c[3].caption(qlora_reason)
        c = st.columns([3, 1])
        v["packing"] = c[0].checkbox("Pack rows into sequences of the max length", field_default("packing"),
                                     persist_state="session", key="ft_packing", disabled=task == "classification",
                                     help=help_text("packing"))
        v["precision"] = c[1].selectbox("Precision", PRECISIONS, index=PRECISIONS.index(field_default("precision")),
                                        persist_state="session", key="ft_precision", help=help_text("precision"))
        c[1].caption(form.auto_precision_caption(loaded.spec.device))
        gpus = jobs.gpu_count()
        v["num_processes"] = st.number_input(
            f"Processes (accelerate launch; {gpus} GPU(s) visible)", 1, max(1, gpus), max(1, gpus),
            persist_state="session", key="ft_procs", disabled=gpus < 2,
            help="More than one GPU: the job runs under `accelerate launch`, one process each.")
        submitted = st.form_submit_button("Start fine-tune", type="primary")
    settings = form.run_settings({**v, "model": loaded.spec.name, "device": loaded.spec.device, "data": str(path),
                                  "task": task, "max_length": max_length, "validation_fraction": val_fraction})
    ui.copy_as_code(snippets.finetune_code(settings))
    if submitted:
        st.session_state["ft_job"] = jobs.submit(config.LoraRunConfig(**settings))
        st.success(form.started_message(st.session_state["ft_job"]))


@st.fragment(run_every=2)
def jobs_panel() -> None:
    """Polls the store every 2 s: the table, the selected job's curve, progress and controls."""
    if st.session_state.get("ft_registry") not in (None, adapters.registry_stamp()):
        st.rerun()  # a job registered its adapter, or another tab changed the registry: redraw the Adapters tab
    try:
        job_view()
    except WorkbenchError as err:  # a fragment rerun is outside the page's own try
        ui.show_error(err)


def job_view() -> None:
    ui.trash_notice("ft_job")
    if asked := st.session_state.get("ft_job_confirm"):
        ui.confirm_delete("ft_job", panels.job_delete_question(*asked), lambda: jobs.delete(asked[0]))
    rows = jobs.list_jobs()
    if not rows:
        st.info("No jobs yet: start one in the New run tab.")
        return
    st.dataframe(panels.job_table(rows), hide_index=True, width="stretch", key="ft_jobs_table")
    ids = [r["id"] for r in rows]
    pick = panels.picked_job(ids, st.session_state.get("ft_pick"), st.session_state.get("ft_job"))
    if pick != st.session_state.get("ft_pick"):  # set, not dropped: the browser would keep showing a gone job
        st.session_state["ft_pick"] = pick
    st.session_state["ft_job"] = job_id = st.selectbox("Job", ids, persist_state="session", key="ft_pick")
    row = next(r for r in rows if r["id"] == job_id)
    metrics = jobs.metrics(job_id)
    shown = panels.job_figures(row, metrics)
    st.progress(shown.progress, text=shown.progress_text)
    for col, (label, value) in zip(st.columns(4), shown.metrics.items()):
        col.metric(label, value)
    if notice := panels.job_notice(row):
        (st.error if notice[0] == "error" else st.info)(notice[1])
    if metrics:
        ui.chart(plots.training_curves(metrics, f"{row['adapter']} ({job_id})"), key="ft_curve")
    finetune_controls.job_controls(job_id, row)
    ui.notebook_download(lambda: notebook_export.finetune_job_notebook(row, metrics), f"finetune-{job_id}.ipynb",
                         "ft_job_ipynb")  # the job as a notebook that trains it again
    with st.expander("Log"):
        st.code(jobs.log_tail(job_id) or "(empty)", language=None)


st.session_state["ft_registry"] = adapters.registry_stamp()  # what this full run shows; the jobs poll compares
tab_new, tab_jobs, tab_adapters = st.tabs(["New run", "Jobs", "Adapters"])
try:
    with tab_new:
        path, max_length, val_fraction, usable = data_section()
        if usable:
            settings_form(path, max_length, val_fraction)
    with tab_jobs:
        jobs_panel()
    with tab_adapters:
        ui.adapters_panel(loaded.info.name, active, "ft")
except WorkbenchError as err:
    ui.show_error(err)
