"""Stored records as runnable notebooks (nbformat v4, no outputs): a title saying what the record is, the
public-API code that re-creates it (the snippets of "Copy as code"), and the key result printed beside the
stored one. One function per record kind: Prompt lab runs, evaluation runs, bias runs, fine-tune jobs."""

from __future__ import annotations

import dataclasses
import math
import time

import nbformat
from nbformat import v4

from workbench import snippets
from workbench.bias.probes import ProbeResult
from workbench.errors import InvalidSetting
from workbench.finetune.config import LoraRunConfig
from workbench.models import ModelSpec
from workbench.models.loading import DEVICES, DTYPES
from workbench.prompt_lab.history import Run

KERNEL = {"display_name": "LLM Workbench", "language": "python", "name": "llm-workbench"}  # as notebooks/ use
FINETUNE_NOTEBOOK_WAIT_S = 3600  # the notebook's job.wait(): a long run on a CPU takes this long
# Same seed, data and steps give the same losses; a different torch thread count changes the order of float sums.
FINETUNE_LOSS_REL_TOL = 1e-3
# A bias summary is a few statistics over model probabilities: the same thread-count effect, amplified by a fit
# over a handful of points (the 3-occupation test run printed False under `make test`'s one-thread workers at 1e-6).
BIAS_SUMMARY_REL_TOL = 1e-4


def notebook(title: str, cells: list[str | tuple[str, str]]) -> bytes:
    """A notebook: `title` (markdown) first, then code cells; a ("markdown", text) pair is a markdown cell."""
    book = v4.new_notebook(metadata={"kernelspec": KERNEL, "language_info": {"name": "python"}})
    book.cells = [v4.new_markdown_cell(title)] + [v4.new_markdown_cell(c[1]) if isinstance(c, tuple)
                                                  else v4.new_code_cell(c) for c in cells]
    nbformat.validate(book)
    return nbformat.writes(book).encode("utf-8")


def when(created: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(created))


def record_spec(model: str, environment: dict | None = None) -> ModelSpec:
    """The spec that loads a recorded model as it ran: its device ("cuda:0" -> "cuda") and dtype, when known."""
    environment = environment or {}
    device = str(environment.get("device", "auto")).split(":")[0]
    dtype = str(environment.get("dtype", "auto"))
    return ModelSpec(model, device=device if device in DEVICES else "auto", dtype=dtype if dtype in DTYPES else "auto")


def _notes(snippet: snippets.Snippet) -> list:
    return [("markdown", "\n".join(f"- {n}" for n in snippet.notes))] if snippet.notes else []


def _comparison(stored, now: str, what: str, *, rel_tol: float = 1e-6, check: bool = False) -> str:
    """A cell that prints whether `now` (an expression) equals the stored value (floats to `rel_tol`); with `check`,
    it asserts so, and a different result fails the notebook."""
    verdict = f"print('same {what} as the stored record:', same(now, stored))"
    if check:
        verdict += f"\nassert same(now, stored), f'{what} differs from the stored record: {{now}} != {{stored}}'"
    return ("import math\n\n\n"
            "def same(a, b):\n"
            f'    """Equal; floats to a relative {rel_tol:g} (NaN = NaN), dicts by key, lists by item."""\n'
            "    if isinstance(a, dict) and isinstance(b, dict):\n"
            "        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)\n"
            "    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):\n"
            "        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))\n"
            "    if isinstance(a, float) or isinstance(b, float):\n"
            "        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):\n"
            "            return True  # an undefined figure (the interval of 3 points) both times\n"
            f"        return math.isclose(a, b, rel_tol={rel_tol!r}, abs_tol=1e-12)\n"
            "    return a == b\n\n\n"
            f"stored = {snippets.source(stored)}  # as recorded\n"
            f"now = {now}\n"
            f"{verdict}")


def prompt_run_notebook(run: Run) -> bytes:
    """A Prompt lab run (a generation or a grid) that re-runs with the same inputs, seed and settings."""
    spec = run.spec
    if spec.get("endpoint") or any(o.get("endpoint") for o in run.outputs):
        raise InvalidSetting(f"run {run.id} asked an endpoint; a notebook re-runs local models only (use Re-run)",
                             field="run")
    model = record_spec(run.model, run.environment)
    notes = (f"Run {run.id} used {run.approximate}; the notebook runs the exact model, so its text may differ.",) \
        if run.approximate else ()
    if run.kind == "generate":
        snippet = snippets.generate_code(model, spec.get("prompt", run.prompt), spec.get("params", {}),
                                         chat=spec.get("chat", False), system=spec.get("system"),
                                         seed=spec.get("seed", run.seed), adapter=spec.get("adapter"), notes=notes)
        stored, now, what = run.outputs[0]["text"], "g.core.text", "text"
        title = f"# Prompt lab run {run.id}: a generation by {run.model}"
    else:
        snippet = snippets.grid_code(model, spec, notes)
        stored, now, what = [o["text"] for o in run.outputs], 'r.to_pandas()["text"].tolist()', "texts"
        title = f"# Prompt lab run {run.id}: a grid of {len(run.outputs)} cells on {run.model}"
    title += (f" ({when(run.created)})\n\nRecorded prompt: `{run.prompt[:200]!r}`. The cells below re-create it "
              "with the notebook API and compare the result with the stored one.")
    return notebook(title, [*_notes(snippet), snippet.setup, snippet.body,
                            _comparison(stored, now, what)])


def evaluation_run_notebook(record: dict) -> bytes:
    """An evaluation run (a record from `evaluate.history.get_run`) on the same set, metrics and options."""
    local = [m for m in record["models"] if not m["endpoint"]]
    notes = tuple(f"{m['label']} is an endpoint: the notebook API scores local models only."
                  for m in record["models"] if m["endpoint"])
    environment = {k: record[k] for k in ("device", "dtype") if record.get(k)}  # none for runs recorded before
    snippet = snippets.evaluate_code(record_spec(record["base_model"], environment), record["dataset_path"],
                                     record["metrics"], [m["adapter"] for m in local], limit=record["n_examples"],
                                     options=record["options"], notes=notes)
    stored = {m["label"]: {k: v for k, v in m["scores"].items() if math.isfinite(v)} for m in local}
    now = "{m: dict(zip(s['key'], s['value'])) for m, s in e.to_pandas().groupby('model', sort=False)}"
    title = (f"# Evaluation run {record['id']}: {record['dataset']} ({record['n_examples']} examples) on "
             f"{record['base_model']} ({when(record['created'])})\n\nModels: {', '.join(m['label'] for m in local)}"
             f"; metrics: {', '.join(record['metrics'])}. Set `{record['dataset_path']}`, sha256 "
             f"`{record['dataset_sha256'][:12]}`.")
    return notebook(title, [*_notes(snippet), snippet.setup, snippet.body,
                            _comparison(stored, now, "scores")])


def _comparable(summary: dict) -> dict:
    """The summary's text and finite numbers (a NaN has no literal and never equals itself)."""
    kept = {}
    for key, value in summary.items():
        try:
            value = snippets.literal(value)
        except (TypeError, ValueError):
            continue
        if isinstance(value, (str, int, float)):
            kept[key] = value
    return kept


def bias_run_notebook(result: ProbeResult, created: float | None = None) -> bytes:
    """A bias probe run (base or one adapter) recomputed on the same data file and settings (cache off)."""
    name, _, dtype = result.model.partition("|")
    model = record_spec(name, {"dtype": dtype} if dtype else None)
    snippet = snippets.bias_code(model, result.probe, result.settings, adapter=result.adapter,
                                 data_path=result.data_path, recompute=True)
    side = "adapter" if result.adapter else "base"
    stored = _comparable(result.summary)
    now = f'{{k: v for k, v in b.core["{side}"].summary.items() if k in stored}}'
    title = (f"# Bias run: {result.probe} on {name} with {result.adapter or 'the base model'}"
             + (f" ({when(created)})" if created else "") + f"\n\nData `{result.data_path}` (sha256 "
             f"`{result.data_hash[:12]}`), settings {result.settings}.")
    return notebook(title, [snippet.setup, snippet.body,
                            _comparison(stored, now, "summary", rel_tol=BIAS_SUMMARY_REL_TOL)])


def finetune_job_notebook(row: dict, log: list[dict]) -> bytes:
    """A fine-tune job (its store row and metrics log) started again with the same settings under a new name."""
    config = {**row["config"], "data": row["data_path"], "adapter_name": f"{row['adapter']}-again"}
    config = {k: v for k, v in config.items() if k in {f.name for f in dataclasses.fields(LoraRunConfig)}}
    snippet = snippets.finetune_code(config)
    body = snippet.body.replace("job.wait()", f"job.wait(timeout_s={FINETUNE_NOTEBOOK_WAIT_S})")
    losses = [m["loss"] for m in log if m.get("kind") == "train"]
    # the losses of the steps the job ran; a stopped or failed job's end is not compared (the notebook runs to the end)
    stored = {"status": row["status"], "step": row["step"]} if row["status"] == "done" else {}
    end = '"status": job.status, "step": job.row()["step"], ' if stored else ""
    ran = f'[m["loss"] for m in job.curves().core if m.get("kind") == "train"][:{len(losses)}]'
    now = f'{{{end}"train losses": {ran}}}'
    stored["train losses"] = losses
    title = (f"# Fine-tune job {row['id']}: adapter {row['adapter']} on {row['base_model']}\n\n"
             f"Data `{row['data_path']}`, {row['status']} at step {row['step']} of {row['max_steps']}. The notebook "
             f"trains again under the name `{config['adapter_name']}` (adapter names are unique).")
    return notebook(title, [snippet.setup, body, _comparison(stored, now, "result", rel_tol=FINETUNE_LOSS_REL_TOL,
                                                             check=True)])
