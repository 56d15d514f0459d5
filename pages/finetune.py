"""Fine-tune: validate data, launch LoRA jobs in their own processes, watch live curves, stop/resume, adapters."""

import time
from pathlib import Path

import pandas as pd
import streamlit as st

import pages as ui
from workbench import notebook_export, snippets, trash, workspace
from workbench.errors import WorkbenchError
from workbench.finetune import data, jobs
from workbench.finetune import figures as plots
from workbench.finetune.config import (
    SCHEDULES,
    LoraRunConfig,
    default_target_modules,
    field_default,
    help_text,
    linear_module_names,
)
from workbench.models import adapters

ui.ensure_shell()  # first: a page reached in Streamlit's v1 mode reruns through app.py

st.title("Fine-tune")
loaded = ui.current_model(kinds=("causal", "encoder"))
task = "classification" if loaded.kind == "encoder" else "causal"
active = adapters.active_adapter(loaded.info.name)
method = "LoRA sequence classification on text/label data" if task == "classification" else "LoRA causal LM"
st.caption(f"Base **{loaded.info.name}** ({task}: {method}) · "
           f"active adapter: **{active or adapters.BASE_CHOICE}**")


@st.cache_data(show_spinner=False, max_entries=20)
def validate(path: str, sha: str, model: str, max_length: int, task: str, _tokenizer) -> dict:
    """Everything the data section shows, cached per file content and settings."""
    ds = data.read_dataset(path, _tokenizer, max_length, task=task)
    return {"format": ds.format, "rows": len(ds.rows), "errors": [vars(e) for e in ds.errors],
            "preview": data.preview(ds), "lengths": data.token_lengths(ds, _tokenizer), "labels": ds.labels}


def pick_data_file() -> Path | None:
    source = st.radio("Data", ["Pick from data/", "Upload"], horizontal=True, persist_state="session", key="ft_source")
    if source == "Upload":
        up = st.file_uploader("JSONL, CSV or TXT", type=["jsonl", "json", "csv", "txt"], key="ft_upload")
        if up is None:
            return None
        return workspace.save_upload("uploads", up.name, up.getvalue())
    files = sorted(p for p in workspace.data_dir().glob("*") if p.suffix in data.SUFFIXES)
    default = next((i for i, p in enumerate(files) if p.name.startswith(
        "demo_sentiment_train" if task == "classification" else "demo_dates_train")), 0)
    choice = st.selectbox("File in data/", [p.name for p in files], index=default, persist_state="session",
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
    n_val = len(data.split_indices(report["rows"], val_fraction, 0)[1])
    st.markdown(f"**{path.name}** · format `{report['format']}` · {report['rows']} good rows → "
                f"{report['rows'] - n_val} train / {n_val} validation"
                + (f" · labels: {', '.join(report['labels'])}" if report["labels"] else ""))
    if report["errors"]:
        st.error(f"{len(report['errors'])} bad row(s): fix them before training (every one is listed).")
        st.dataframe(pd.DataFrame(report["errors"]), hide_index=True, width="stretch", key="ft_errors")
    with st.expander("Preview and token lengths", expanded=not report["errors"]):
        st.dataframe(pd.DataFrame(report["preview"]), hide_index=True, width="stretch")
        if report["lengths"]:
            ui.chart(plots.token_length_histogram(report["lengths"], max_length), key="ft_hist")
    return path, max_length, val_fraction, not report["errors"] and report["rows"] > 0


FORM_DEFAULTS = {"max_steps": 150}  # the page starts short runs; the config's 0 means "use epochs"


def number(col, label: str, name: str, lo, hi, step=None, **kwargs):
    """A number input for one LoraRunConfig field: default and help come from the field; its value is kept for
    the session across pages."""
    default = FORM_DEFAULTS.get(name, field_default(name))
    default = kwargs.pop("value", default)
    return col.number_input(label, lo, hi, default, step, help=help_text(name), persist_state="session", **kwargs)


def settings_form(path: Path, max_length: int, val_fraction: float) -> None:
    modules = linear_module_names(loaded.model)
    with st.form("ft_form"):
        c = st.columns(4)
        name = c[0].text_input("Adapter name", f"{path.stem.replace('_train', '')}-lora", persist_state="session",
                               key="ft_name")
        rank = number(c[1], "Rank r", "rank", 1, 256, key="ft_rank")
        alpha = number(c[2], "Alpha", "alpha", 1, 512, key="ft_alpha")
        dropout = number(c[3], "Dropout", "dropout", 0.0, 0.9, 0.05, key="ft_dropout")
        targets = st.multiselect("Target modules", modules,
                                 default=[m for m in default_target_modules(loaded.info.model_type) if m in modules],
                                 persist_state="session", key="ft_targets", help=help_text("target_modules"))
        c = st.columns(4)
        lr = number(c[0], "Learning rate", "learning_rate", 1e-6, 0.5, format="%.5f", key="ft_lr")
        schedule = c[1].selectbox("Schedule", SCHEDULES, index=SCHEDULES.index(field_default("schedule")),
                                  persist_state="session", key="ft_schedule", help=help_text("schedule"))
        warmup = number(c[2], "Warm-up steps", "warmup_steps", 0, 10_000, key="ft_warmup")
        steps = number(c[3], "Steps (0: use epochs)", "max_steps", 0, 100_000, key="ft_steps")
        c = st.columns(4)
        epochs = number(c[0], "Epochs", "epochs", 0.1, 100.0, key="ft_epochs")
        batch = number(c[1], "Batch size", "batch_size", 1, 512, key="ft_batch",
                       **({"value": 8} if task == "classification" else {}))  # encoders take bigger batches
        accum = number(c[2], "Gradient accumulation", "grad_accumulation", 1, 256, key="ft_accum")
        eval_every = number(c[3], "Validate every (steps)", "eval_every", 1, 10_000, key="ft_eval_every")
        c = st.columns(4)
        save_every = number(c[0], "Checkpoint every (steps)", "save_every", 1, 10_000, key="ft_save_every")
        patience = number(c[1], "Early stop patience (0: off)", "early_stopping_patience", 0, 100,
                          key="ft_patience")
        response_only = c[2].checkbox("Loss on response only", field_default("response_only"),
                                      persist_state="session", key="ft_response_only",
                                      disabled=task == "classification",
                                      help=help_text("response_only"))
        qlora_reason = jobs.qlora_unavailable_reason()
        qlora = c[3].checkbox("QLoRA (4-bit)", field_default("quantize_4bit"), persist_state="session", key="ft_qlora",
                              disabled=qlora_reason is not None,
                              help=qlora_reason or help_text("quantize_4bit"))
        if qlora_reason:
            c[3].caption(qlora_reason)
        packing = st.checkbox("Pack rows into sequences of the max length", field_default("packing"),
                              persist_state="session", key="ft_packing", disabled=task == "classification",
                              help=help_text("packing"))
        gpus = jobs.gpu_count()
        procs = st.number_input(f"Processes (accelerate launch; {gpus} GPU(s) visible)", 1, max(1, gpus),
                                max(1, gpus), persist_state="session", key="ft_procs", disabled=gpus < 2,
                                help="More than one GPU: the job runs under `accelerate launch`, one process each.")
        submitted = st.form_submit_button("Start fine-tune", type="primary")
    settings = dict(
        model=loaded.spec.name, data=str(path), adapter_name=name.strip(), task=task, rank=int(rank),
        alpha=int(alpha), dropout=float(dropout), target_modules=targets, learning_rate=float(lr),
        schedule=schedule, warmup_steps=int(warmup), max_steps=int(steps), epochs=float(epochs),
        batch_size=int(batch), grad_accumulation=int(accum), max_length=max_length,
        response_only=bool(response_only), validation_fraction=val_fraction, eval_every=int(eval_every),
        save_every=int(save_every), early_stopping_patience=int(patience), quantize_4bit=bool(qlora),
        packing=bool(packing), device=loaded.spec.device, num_processes=int(procs))
    ui.copy_as_code(snippets.finetune_code(settings))
    if submitted:
        st.session_state["ft_job"] = jobs.submit(LoraRunConfig(**settings))
        st.success(f"Job {st.session_state['ft_job']} started: watch it in the Jobs tab.")


@st.fragment(run_every=2)
def jobs_panel() -> None:
    """Polls the store every 2 s: the table, the selected job's curve, progress and controls."""
    if st.session_state.get("ft_registry") not in (None, registry_stamp()):
        st.rerun()  # a job registered its adapter, or another tab changed the registry: redraw the Adapters tab
    try:
        job_view()
    except WorkbenchError as err:  # a fragment rerun is outside the page's own try
        ui.show_error(err)


def job_view() -> None:
    ui.trash_notice("ft_job")
    if asked := st.session_state.get("ft_job_confirm"):
        ui.confirm_delete("ft_job", f"job **{asked[0]}** (adapter {asked[1]}) with its run folder, metrics, log and "
                          "checkpoints", lambda: jobs.delete(asked[0]))
    rows = jobs.list_jobs()
    if not rows:
        st.info("No jobs yet: start one in the New run tab.")
        return
    table = pd.DataFrame([{"job": r["id"], "adapter": r["adapter"], "status": r["status"],
                           "progress": f"{r['step']}/{r['max_steps']}", "model": r["base_model"],
                           "data": Path(r["data_path"]).name, "message": r["message"]} for r in rows])
    st.dataframe(table, hide_index=True, width="stretch", key="ft_jobs_table")
    ids = [r["id"] for r in rows]
    wanted = st.session_state.get("ft_job")
    if st.session_state.get("ft_pick") not in ids:  # set, not dropped: the browser would keep showing a gone job
        st.session_state["ft_pick"] = wanted if wanted in ids else ids[0]
    job_id = st.selectbox("Job", ids, persist_state="session", key="ft_pick")
    st.session_state["ft_job"] = job_id
    row = next(r for r in rows if r["id"] == job_id)
    metrics = jobs.metrics(job_id)
    train = [m for m in metrics if m["kind"] == "train"]
    last = train[-1] if train else {}
    st.progress(min(row["step"] / max(row["max_steps"], 1), 1.0),
                text=f"{row['status']}: step {row['step']} of {row['max_steps']}")
    c = st.columns(4)
    c[0].metric("Train loss", f"{last['loss']:.4f}" if last else "–")
    evals = [m for m in metrics if m["kind"] == "eval"]
    c[1].metric("Validation loss", f"{evals[-1]['val_loss']:.4f}" if evals else "–")
    c[2].metric("Tokens/s", f"{last['tokens_per_s']:.0f}" if last else "–")
    c[3].metric("ETA", f"{last['eta_s']:.0f} s" if last and row["status"] == "running" else "–")
    if row["status"] == "failed":
        st.error(f"Failed: {row['message']}")
    elif row["message"]:
        st.info(row["message"])
    if metrics:
        ui.chart(plots.training_curves(metrics, f"{row['adapter']} ({job_id})"), key="ft_curve")
    job_controls(job_id, row)
    job_files(row, metrics)


def job_controls(job_id: str, row: dict) -> None:
    """Stop, Resume, Continue and Delete as the job's status allows; a finished job's next steps."""
    c = st.columns([1, 1, 2])
    if row["status"] in ("running", "queued"):
        if jobs.run_paths(job_id).stop_request.exists():
            c[0].caption("Stopping: the job finishes its step and writes a checkpoint…")
        elif c[0].button("Stop", key="ft_stop", type="primary"):
            jobs.stop(job_id)
            st.rerun(scope="fragment")
    if row["status"] in ("stopped", "failed") and c[0].button("Resume", key="ft_resume"):
        jobs.resume(job_id)
        st.rerun(scope="fragment")
    if row["status"] == "done":
        more = c[1].number_input("More steps", 1, 100_000, 50, persist_state="session", key="ft_more")
        if c[2].button("Continue for more steps", key="ft_continue"):
            jobs.continue_run(job_id, int(more))
            st.rerun(scope="fragment")
    if row["status"] == "done" and row["adapter"] in {a.name for a in adapters.list_adapters()}:
        next_steps(row["adapter"])
    if row["status"] not in ("running", "queued") and st.button("Delete job", key="ft_job_delete"):
        ui.ask_delete("ft_job", (job_id, row["adapter"]))


def next_steps(adapter: str) -> None:
    """A finished job's adapter opened in the pages that judge it, preselected there."""
    c = st.columns(3)
    ui.open_page("evaluate.py", f"Evaluate {adapter}", {"ev_models": [adapters.BASE_CHOICE, adapter]},
                 key="ft_to_eval", where=c[0], help_text="Base and this adapter on an evaluation set")
    ui.open_page("compare.py", "Compare with the base", {"cmp_adapter": adapter}, key="ft_to_cmp", where=c[1],
                 help_text="The same prompt through base and adapter, side by side; the attention diff")
    ui.open_page("bias.py", "Bias before/after", {"bias_adapter": adapter}, key="ft_to_bias", where=c[2],
                 help_text="The bias probes on this adapter, and the change from the base")


def job_files(row: dict, metrics: list[dict]) -> None:
    """The job as a notebook that trains it again, and its log."""
    ui.notebook_download(lambda: notebook_export.finetune_job_notebook(row, metrics), f"finetune-{row['id']}.ipynb",
                         "ft_job_ipynb")
    with st.expander("Log"):
        st.code(jobs.log_tail(row["id"]) or "(empty)", language=None)


def registry_stamp() -> tuple[str, ...]:
    """The registered folder names: the jobs poll reruns the page when they change (a job registered its adapter)."""
    return tuple(sorted(p.name for p in adapters.adapters_dir().iterdir() if not p.name.startswith(".")))


def pick_adapter(rows: list[dict]) -> dict:
    """The picker over the same rows as the table; an action that made an adapter selects it for the next run."""
    names = [r["name"] for r in rows]
    wanted = st.session_state.pop("ft_adapter_next", None)
    if wanted in names:
        st.session_state["ft_adapter_pick"] = wanted
    elif st.session_state.get("ft_adapter_pick") not in names:
        st.session_state["ft_adapter_pick"] = names[0]  # set, not dropped: the browser would keep showing the gone one
    name = st.selectbox("Adapter", names, persist_state="session", key="ft_adapter_pick")
    return next(r for r in rows if r["name"] == name)


def adapter_actions(row: dict) -> None:
    name, broken = row["name"], row["status"] != "ok"
    if broken:
        st.warning(f"{name} cannot be used: {row['status'].removeprefix('broken: ')}. Delete it, or fix the folder "
                   f"{row['path']}.")
    c = st.columns(4)
    fits = row["base model"] == loaded.info.name and not broken
    if c[0].button("Make active", key="ft_activate", disabled=not fits,
                   help=None if fits else f"trained on {row['base model']}, not the picked model"):
        adapters.set_active_adapter(loaded.info.name, name)
        st.rerun()
    if c[1].button("Use base model", key="ft_deactivate"):
        adapters.set_active_adapter(loaded.info.name, None)
        st.rerun()
    if c[2].button("Delete", key="ft_delete"):
        ui.ask_delete("ft_adapter", (name, row["path"]))
    zipped = st.session_state.get("ft_zip")
    if zipped and zipped[0] == name:
        c[3].download_button("Download zip", zipped[1], file_name=f"{name}.zip", key="ft_export")
    elif c[3].button("Export zip", key="ft_zip_build", disabled=broken):
        st.session_state["ft_zip"] = (name, adapters.export_zip_bytes(name))  # built on request, temp removed
        st.rerun()
    c = st.columns([3, 1])
    new_name = c[0].text_input("Rename to", persist_state="session", key="ft_new_name", disabled=broken)
    if c[1].button("Rename", key="ft_rename", disabled=broken) and new_name:
        st.session_state["ft_adapter_next"] = adapters.rename(name, new_name.strip()).name
        st.rerun()


def import_form() -> None:
    c = st.columns([3, 2, 1])
    folder = c[0].text_input("Load an adapter from a folder", persist_state="session", key="ft_import_path",
                             placeholder="/path/to/adapter")
    import_name = c[1].text_input("Register as", persist_state="session", key="ft_import_name")
    if c[2].button("Load", key="ft_import") and folder:
        info = adapters.import_adapter(folder, import_name.strip() or Path(folder).name)
        st.session_state["ft_adapter_next"] = info.name
        st.session_state["ft_flash"] = f"Registered {info.name} (base {info.base_model}, {info.task})."
        st.rerun()  # the table and the picker show it now, selected


def trash_section() -> None:
    items = trash.list_items()
    with st.expander(f"Trash ({len(items)})", expanded=bool(items)):
        if not items:
            st.caption(f"Empty. Deleted adapters, jobs and history records wait here for {trash.KEEP_DAYS} days.")
            return
        st.dataframe(pd.DataFrame([{"what": i.kind, "name": i.name, "deleted": time.strftime(
            "%Y-%m-%d %H:%M", time.localtime(i.deleted)), "from": i.origin or f"store table {i.table}"}
            for i in items]), hide_index=True, width="stretch", key="ft_trash_table")
        by_id = {i.id: i for i in items}
        if st.session_state.get("ft_trash_pick") not in by_id:
            st.session_state["ft_trash_pick"] = items[0].id
        c = st.columns([3, 1, 1])
        picked = c[0].selectbox("Item", list(by_id), format_func=lambda i: by_id[i].label, persist_state="session",
                                key="ft_trash_pick")
        if c[1].button("Restore", key="ft_trash_restore"):
            item = trash.restore(picked)
            if item.kind == "adapter":
                st.session_state["ft_adapter_next"] = item.name
            st.session_state["ft_flash"] = f"Restored {item.label}."
            st.rerun()
        if c[2].button("Empty trash", key="ft_trash_empty"):
            st.session_state["ft_trash_confirm"] = True
        if st.session_state.get("ft_trash_confirm"):
            confirm_empty(len(items))


def confirm_empty(count: int) -> None:
    st.warning(f"Remove the {count} item(s) in the trash for good? This cannot be undone.")
    c = st.columns([1, 1, 4])
    if c[0].button("Empty for good", key="ft_trash_empty_yes", type="primary"):
        st.session_state["ft_flash"] = f"Removed {len(trash.empty(older_than_days=0))} item(s) for good."
    elif not c[1].button("Keep them", key="ft_trash_empty_no"):
        return
    st.session_state.pop("ft_trash_confirm", None)
    st.rerun()


def adapters_panel() -> None:
    st.markdown(f"Active adapter for **{loaded.info.name}**: **{active or adapters.BASE_CHOICE}**")
    if flash := st.session_state.pop("ft_flash", None):
        st.success(flash)
    ui.trash_notice("ft_adapter")
    rows = adapters.adapter_rows()
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="ft_adapters_table")
        adapter_actions(pick_adapter(rows))
        if asked := st.session_state.get("ft_adapter_confirm"):
            ui.confirm_delete("ft_adapter", f"adapter **{asked[0]}** (`{asked[1]}`)", lambda: adapters.delete(asked[0]))
    else:
        st.info("No adapters yet.")
    import_form()
    trash_section()


st.session_state["ft_registry"] = registry_stamp()  # what this full run shows; the jobs poll compares
tab_new, tab_jobs, tab_adapters = st.tabs(["New run", "Jobs", "Adapters"])
try:
    with tab_new:
        path, max_length, val_fraction, usable = data_section()
        if usable:
            settings_form(path, max_length, val_fraction)
    with tab_jobs:
        jobs_panel()
    with tab_adapters:
        adapters_panel()
except WorkbenchError as err:
    ui.show_error(err)
