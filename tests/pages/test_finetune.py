"""Fine-tune page under AppTest: a job started from the page outlives the session; Stop on the page stops it."""

import time

from workbench.finetune import jobs
from workbench.models import adapters


def test_job_started_on_page_survives_the_session_and_stops_from_the_page(workspace_home, open_page):
    at = open_page("finetune")
    assert any("format `prompt_response`" in m.value for m in at.markdown)
    at.number_input(key="ft_max_length").set_value(48)
    at.number_input(key="ft_steps").set_value(60)
    at.number_input(key="ft_batch").set_value(2)
    at.number_input(key="ft_save_every").set_value(2)
    at.text_input(key="ft_name").input("page-run")
    at.button(key="FormSubmitter:ft_form-Start fine-tune").click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["ft_job"]
    del at  # the browser session ends; the job is its own process

    deadline = time.time() + 120
    while jobs.job(job_id)["step"] < 1 and time.time() < deadline:
        time.sleep(0.3)
    assert jobs.job(job_id)["status"] == "running"

    at = open_page("finetune")
    at.session_state["ft_job"] = job_id
    at.run()
    at.button(key="ft_stop").click().run()
    row = jobs.wait(job_id, timeout_s=60)
    assert row["status"] == "stopped"
    at.run()
    assert any(b.label == "Resume" for b in at.button)
    assert adapters.adapter_rows() == []  # a stopped run registers nothing
