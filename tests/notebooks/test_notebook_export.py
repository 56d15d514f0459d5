"""Stored records exported as notebooks: valid nbformat v4 with empty outputs, and, executed in the project's kernel,
a greedy Prompt lab run prints the same text, an evaluation run gives the same scores, a bias run the same summary,
and a fine-tune job trained again the same losses."""

import contextlib
import io
import json
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from workbench import notebook_export
from workbench.bias.probes import ProbeResult
from workbench.bias.runs import ProbeSettings, run_probe
from workbench.evaluate import history as eval_history
from workbench.evaluate.run import EvalOptions, evaluate_models
from workbench.evaluate.sets import read_eval_set
from workbench.finetune import jobs
from workbench.finetune.config import LoraRunConfig
from workbench.prompt_lab import history
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import generate

ROOT = Path(__file__).resolve().parents[2]


def execute(data: bytes, kernel_name: str) -> tuple[nbformat.NotebookNode, str]:
    """Run an exported notebook top to bottom; returns it and everything its cells printed."""
    book = nbformat.reads(data.decode("utf-8"), as_version=4)
    NotebookClient(book, kernel_name=kernel_name, timeout=120, resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], [o.get("evalue") for o in outputs]
    return book, "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")


def check_shape(data: bytes, title: str) -> nbformat.NotebookNode:
    book = nbformat.reads(data.decode("utf-8"), as_version=4)
    nbformat.validate(book)
    assert book.nbformat == 4 and book.metadata.kernelspec.name == "llm-workbench"
    assert book.cells[0].cell_type == "markdown" and book.cells[0].source.startswith(title)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code[0].source.startswith("import workbench as wb")
    assert all(not c.outputs and c.execution_count is None for c in code)
    for c in code:
        compile(c.source, "cell", "exec")
    return book


def test_exported_greedy_prompt_lab_run_prints_the_stored_text(smollm2, workspace_home, kernel_name):
    prompt = "Name a colour of the sky, in one word."
    gen = generate(smollm2, prompt, SamplingParams(max_new_tokens=10), chat=True, seed=0)
    run = history.get_run(history.record_generation(smollm2, gen, user_prompt=prompt, chat=True, system=None))
    data = notebook_export.prompt_run_notebook(run)
    check_shape(data, f"# Prompt lab run {run.id}: a generation by smollm2-135m-instruct")
    start = time.perf_counter()
    _, printed = execute(data, kernel_name)
    assert time.perf_counter() - start < 60
    assert printed.startswith(gen.text + "\n") and "same text as the stored record: True" in printed


def test_exported_evaluation_run_gives_the_stored_scores(smollm2, workspace_home, kernel_name):
    dataset = read_eval_set(ROOT / "data" / "eval_facts.jsonl")
    dataset = type(dataset)(dataset.name, dataset.path, dataset.examples[:3], dataset.sha256)  # the page's limit
    report = evaluate_models(smollm2, [None], dataset, ["exact_match", "chrf"],
                             EvalOptions(max_new_tokens=6, resamples=50))
    record = eval_history.get_run(eval_history.save_run(report))
    assert record["n_examples"] == 3 and record["models"][0]["label"] == "base"
    data = notebook_export.evaluation_run_notebook(record)
    book = check_shape(data, f"# Evaluation run {record['id']}: eval_facts (3 examples)")
    assert record["device"] == "cpu" and record["dtype"] == "float32"
    assert "device='cpu', dtype='float32'" in book.cells[1].source  # loaded as it ran
    assert "limit=3" in book.cells[2].source and "max_new_tokens=6" in book.cells[2].source
    _, printed = execute(data, kernel_name)
    assert "same scores as the stored record: True" in printed
    stored = json.loads(json.dumps(record["models"][0]["scores"]))
    assert set(stored) == {"exact_match", "chrf"}


def test_evaluation_run_recorded_before_the_device_loads_on_auto():
    record = {"id": 1, "created": time.time(), "base_model": "smollm2-135m-instruct", "dataset": "facts",
              "dataset_path": "/d/facts.jsonl", "dataset_sha256": "ab" * 32, "n_examples": 2, "metrics": ["chrf"],
              "options": {}, "device": None, "dtype": None,
              "models": [{"label": "base", "adapter": None, "endpoint": None, "scores": {"chrf": 1.0}}]}
    book = check_shape(notebook_export.evaluation_run_notebook(record), "# Evaluation run 1: facts")
    assert "wb.load('smollm2-135m-instruct')" in book.cells[1].source


def test_exported_bias_run_recomputes_the_stored_summary(smollm2, workspace_home, kernel_name):
    result = run_probe(smollm2, "pronouns", settings=ProbeSettings(limit=3, seed=2))
    data = notebook_export.bias_run_notebook(result, time.time())
    check_shape(data, "# Bias run: pronouns on smollm2-135m-instruct with the base model")
    _, printed = execute(data, kernel_name)
    comparison = nbformat.reads(data.decode(), as_version=4).cells[-1].source  # the stored summary, as recorded
    assert "same summary as the stored record: True" in printed, (printed, comparison)
    # The snippet's own print(b.core["base"].summary): the same keys (the numbers agree to the tolerance above;
    # the kernel's float sums may run in another order than this worker's)
    assert printed.startswith("{" + ", ".join(f"'{k}': " for k in list(result.summary)[:1]))
    assert all(f"'{k}': " in printed.splitlines()[0] for k in result.summary)


def test_exported_finetune_job_trains_again_to_the_stored_losses(workspace_home, kernel_name, tmp_path):
    rows = (ROOT / "data" / "demo_dates_train.jsonl").read_text().splitlines()[:8]
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n")
    job_id = jobs.submit(LoraRunConfig(data=str(tmp_path / "train.jsonl"), adapter_name="nb-tiny", max_steps=2,
                                       batch_size=2, max_length=48, warmup_steps=0, validation_fraction=0.0,
                                       save_every=100, cpu_threads=1))  # what the page's Start button submits
    row = jobs.wait(job_id, timeout_s=180)
    losses = [m["loss"] for m in jobs.metrics(job_id) if m.get("kind") == "train"]
    assert row["status"] == "done" and len(losses) == 2
    data = notebook_export.finetune_job_notebook(row, jobs.metrics(job_id))
    book = check_shape(data, f"# Fine-tune job {job_id}: adapter nb-tiny")
    assert "'adapter_name': 'nb-tiny-again'" in book.cells[2].source
    _, printed = execute(data, kernel_name)
    assert "same result as the stored record: True" in printed  # the cell asserts it too


def test_finetune_notebook_fails_when_the_losses_differ(workspace_home, kernel_name):
    cell = nbformat.reads(notebook_export.finetune_job_notebook(
        {"id": "j", "adapter": "a", "base_model": "m", "status": "stopped", "step": 2, "max_steps": 4,
         "data_path": "/d.jsonl", "config": {"max_steps": 4}}, [{"kind": "train", "loss": 2.0},
                                                                {"kind": "train", "loss": 1.0}]).decode(), 4).cells[-1]
    assert "'status'" not in cell.source  # a stopped job's end is not compared, only the steps it ran

    class Job:
        status = "done"
        core = [{"kind": "train", "loss": 2.0005}, {"kind": "train", "loss": 1.01}, {"kind": "train", "loss": 0.5}]

        def curves(self):
            return self

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(AssertionError, match="result differs"):
        exec(cell.source, {"job": Job()})  # noqa: S102 -- the notebook's own comparison cell
    assert printed.getvalue() == "same result as the stored record: False\n"
    Job.core[1]["loss"] = 1.0009  # within the 1e-3 tolerance
    exec(cell.source, {"job": Job()})  # noqa: S102


def test_endpoint_run_is_refused_with_the_reason(workspace_home, smollm2):
    gen = generate(smollm2, "Hi", SamplingParams(max_new_tokens=2), seed=0)
    run = history.get_run(history.record_generation(smollm2, gen, user_prompt="Hi", chat=False, system=None))
    remote = history.Run(**{**vars(run), "spec": {**run.spec, "endpoint": {"base_url": "http://127.0.0.1:1/v1"}}})
    with pytest.raises(history.InvalidSetting, match=f"run {run.id} asked an endpoint"):
        notebook_export.prompt_run_notebook(remote)


def test_bias_run_and_finetune_job_export_as_valid_notebooks():
    result = ProbeResult(probe="pronouns", model="smollm2-135m-instruct|float32", adapter="demo",
                         data_path="/data/occupations.csv", data_hash="ab" * 32, settings={"limit": 5, "seed": 0},
                         summary={"pearson_r": 0.42, "n": 5, "note": "it's", "bad": float("nan")})
    book = check_shape(notebook_export.bias_run_notebook(result, time.time()),
                       "# Bias run: pronouns on smollm2-135m-instruct with demo")
    body = book.cells[2].source
    assert "adapter='demo'" in body and "data_path='/data/occupations.csv'" in body and "use_cache=False" in body
    assert "'bad'" not in book.cells[3].source  # a NaN has no literal

    row = {"id": "job-1", "adapter": "dates-lora", "base_model": "smollm2-135m-instruct", "status": "done",
           "step": 4, "max_steps": 4, "data_path": "/data/demo_dates_train.jsonl",
           "config": {"model": "smollm2-135m-instruct", "data": "/run/frozen.jsonl", "adapter_name": "dates-lora",
                      "task": "causal", "max_steps": 4, "rank": 4}}
    book = check_shape(notebook_export.finetune_job_notebook(row, [{"kind": "train", "loss": 1.5}]),
                       "# Fine-tune job job-1: adapter dates-lora")
    body = book.cells[2].source
    assert "'adapter_name': 'dates-lora-again'" in body and "/data/demo_dates_train.jsonl" in body
    assert "'rank': 4" in body and "job.wait(timeout_s=" in body
