"""Fine-tune's job controls: Stop, Resume, Continue and Delete as a job's status allows, and a finished job's next
steps (a part of pages/finetune.py, in a subfolder so Streamlit does not list it as a page)."""

import streamlit as st

import pages as ui
from workbench.finetune import jobs, panels
from workbench.models import adapters


def job_controls(job_id: str, row: dict) -> None:
    """Stop, Resume, Continue and Delete as the job's status allows; a finished job's next steps."""
    offers = panels.job_controls(row, stop_requested=jobs.run_paths(job_id).stop_request.exists(),
                                 registered={a.name for a in adapters.list_adapters()})
    c = st.columns([1, 1, 2])
    if offers.stopping:
        c[0].caption("Stopping: the job finishes its step and writes a checkpoint…")
    if offers.stop and c[0].button("Stop", key="ft_stop", type="primary"):
        jobs.stop(job_id)
        st.rerun(scope="fragment")
    if offers.resume and c[0].button("Resume", key="ft_resume"):
        jobs.resume(job_id)
        st.rerun(scope="fragment")
    if offers.continue_more:
        more = c[1].number_input("More steps", 1, 100_000, 50, persist_state="session", key="ft_more")
        if c[2].button("Continue for more steps", key="ft_continue"):
            jobs.continue_run(job_id, int(more))
            st.rerun(scope="fragment")
    if offers.next_steps:  # the pages that judge the adapter, opened with it preselected
        for col, (file, label, preset, key, tip) in zip(st.columns(3), panels.next_steps(row["adapter"])):
            ui.open_page(file, label, preset, key=key, where=col, help_text=tip)
    if offers.delete and st.button("Delete job", key="ft_job_delete"):
        ui.ask_delete("ft_job", (job_id, row["adapter"]))
