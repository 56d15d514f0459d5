"""Prompt-lab history in the workspace store: record, list, filter, re-run, diff two runs, delete, export."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pandas as pd
import torch

from workbench import trash
from workbench.errors import InvalidSetting
from workbench.exports import to_safe_csv
from workbench.models import LoadedModel
from workbench.models.adapters import BASE_CHOICE
from workbench.models.endpoint import EndpointSpec
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import (
    Cell,
    Generation,
    GridResult,
    encode_prompt,
    format_prompt,
    generate,
    generate_grid,
)
from workbench.prompt_lab.grid import GridSpec, summarize_repeats, template_variables
from workbench.prompt_lab.remote import generate_endpoint
from workbench.store import Store

COLUMNS = ("id", "created", "kind", "model", "adapters", "prompt", "spec", "seed", "environment", "outputs",
           "prompt_tokens", "new_tokens", "seconds", "approximate")
JSON_COLUMNS = ("adapters", "spec", "environment", "outputs")


class UnknownRun(InvalidSetting):
    """No stored run has this id."""


@dataclass(frozen=True)
class Run:
    """One stored run: a single generation (one output) or a grid (one output per cell)."""

    id: int
    created: float
    kind: str              # generate | grid
    model: str
    adapters: list
    prompt: str
    spec: dict
    seed: int
    environment: dict
    outputs: list[dict]
    prompt_tokens: int
    new_tokens: int
    seconds: float
    approximate: str | None = None  # the fast mode that made it (e.g. int8 weights); None: the exact model


def environment(loaded: LoadedModel, batch_size: int) -> dict:
    """Everything besides the inputs that can change an output: precision, device, kernels, versions."""
    import transformers

    try:
        import peft
        peft_version = peft.__version__
    except ImportError:
        peft_version = None
    return {"dtype": loaded.info.dtype, "device": loaded.info.device, "batch_size": batch_size,
            "attn_implementation": loaded.model.config._attn_implementation, "threads": torch.get_num_threads(),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft_version,
                         "python": platform.python_version()}}


def _insert(store: Store | None, values: dict) -> int:
    row = {k: json.dumps(v, default=str) if k in JSON_COLUMNS else v for k, v in values.items()}
    with (store or Store()).connect() as conn:
        cursor = conn.execute(f"INSERT INTO experiments({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                              tuple(row.values()))
        return int(cursor.lastrowid)


def record_generation(loaded: LoadedModel | EndpointSpec, gen: Generation, *, user_prompt: str, chat: bool,
                      system: str | None, store: Store | None = None) -> int:
    """Store one generation (a local model's, or an endpoint's) with its settings; returns the run id."""
    remote = isinstance(loaded, EndpointSpec)
    spec = {"prompt": user_prompt, "chat": chat, "system": system, "params": gen.params, "seed": gen.seed,
            "adapter": gen.adapter, "fast": gen.approximate is not None,
            "endpoint": loaded.to_dict() if remote else None}
    output = {"adapter": gen.adapter, "params": SamplingParams(**gen.params).label, "text": gen.text,
              "prompt_tokens": gen.prompt_tokens, "new_tokens": gen.new_tokens, "finish_reason": gen.finish_reason,
              "seconds": gen.seconds, "seed": gen.seed, "token_ids": gen.token_ids, "warnings": gen.warnings,
              "approximate": gen.approximate, "endpoint": gen.endpoint}
    return _insert(store, {"created": time.time(), "kind": "generate",
                           "model": loaded.label if remote else loaded.info.name,
                           "adapters": [gen.adapter], "prompt": user_prompt, "spec": spec, "seed": gen.seed,
                           "environment": {"endpoint": loaded.base_url} if remote else environment(loaded, 1),
                           "outputs": [output], "prompt_tokens": gen.prompt_tokens, "new_tokens": gen.new_tokens,
                           "seconds": gen.seconds, "approximate": gen.approximate})


def record_grid(loaded: LoadedModel, spec: GridSpec, result: GridResult, store: Store | None = None) -> int:
    """Store a grid run, one output per cell; returns the run id."""
    outputs = [asdict(c) for c in result.cells]
    return _insert(store, {"created": time.time(), "kind": "grid", "model": loaded.info.name,
                           "adapters": list(spec.adapters), "prompt": spec.template, "spec": spec.to_dict(),
                           "seed": spec.seed, "environment": environment(loaded, spec.batch_size),
                           "outputs": outputs, "prompt_tokens": sum(c.prompt_tokens for c in result.cells),
                           "new_tokens": sum(c.new_tokens for c in result.cells), "seconds": result.seconds,
                           "approximate": result.approximate})


def _run_from_row(row) -> Run:
    values = {k: json.loads(row[k]) if k in JSON_COLUMNS else row[k] for k in COLUMNS}
    return Run(**values)


def list_runs(*, model: str | None = None, kind: str | None = None, contains: str | None = None,
              limit: int = 500, store: Store | None = None) -> list[Run]:
    """Stored runs, newest first, filtered by model, kind and text in the prompt or outputs."""
    where, args = [], []
    for column, value in (("model", model), ("kind", kind)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if contains:
        where.append("(prompt LIKE ? OR outputs LIKE ?)")
        args += [f"%{contains}%"] * 2
    sql = "SELECT * FROM experiments" + (f" WHERE {' AND '.join(where)}" if where else "")
    with (store or Store()).connect() as conn:
        rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
    return [_run_from_row(r) for r in rows]


def get_run(run_id: int, store: Store | None = None) -> Run:
    with (store or Store()).connect() as conn:
        row = conn.execute("SELECT * FROM experiments WHERE id = ?", (int(run_id),)).fetchone()
    if row is None:
        raise UnknownRun(f"there is no run {run_id} in the history", field="run")
    return _run_from_row(row)


def delete_run(run_id: int, store: Store | None = None) -> trash.TrashItem:
    """Move a stored run to the workspace trash (`trash.restore` brings it back with the same id)."""
    get_run(run_id, store)  # UnknownRun when there is none
    return trash.move_to_trash("history", f"run {int(run_id)}", table="experiments", key=int(run_id),
                               store=store)


def rerun(loaded: LoadedModel | None, run: Run, store: Store | None = None) -> int:
    """Run a stored run again with the same inputs, seed and settings; stores and returns the new run id.

    A generation on an endpoint asks that endpoint again (the key from the same environment variable)."""
    spec = run.spec
    if run.kind == "generate" and spec.get("endpoint"):
        endpoint = EndpointSpec.from_dict(spec["endpoint"])
        gen = generate_endpoint(endpoint, spec["prompt"], SamplingParams(**spec["params"]), system=spec["system"],
                                seed=spec["seed"])
        return record_generation(endpoint, gen, user_prompt=spec["prompt"], chat=True, system=spec["system"],
                                 store=store)
    if loaded is None or run.model != loaded.info.name:
        raise InvalidSetting(f"run {run.id} used {run.model}; load that model to re-run it", field="model")
    if run.kind == "generate":
        params = SamplingParams(**spec["params"])
        gen = generate(loaded, spec["prompt"], params, chat=spec["chat"], system=spec["system"],
                       seed=spec["seed"], adapter=spec.get("adapter"), fast=spec.get("fast", False))
        return record_generation(loaded, gen, user_prompt=spec["prompt"], chat=spec["chat"],
                                 system=spec["system"], store=store)
    grid = GridSpec.from_dict(spec)
    return record_grid(loaded, grid, generate_grid(loaded, grid), store=store)


def stored_generation(loaded: LoadedModel, run: Run) -> Generation:
    """A stored local generation as `generate` returned it (the prompt re-encoded the same way), so a page can open
    it again with its token view and decoding steps."""
    spec = run.spec
    if run.kind != "generate" or spec.get("endpoint"):
        raise InvalidSetting(f"run {run.id} is not a generation of a local model", field="run")
    if run.model != loaded.info.name:
        raise InvalidSetting(f"run {run.id} used {run.model}; load that model to open it", field="model")
    out = run.outputs[0]
    text = format_prompt(loaded, spec["prompt"], chat=spec["chat"], system=spec["system"])
    prompt_ids, _ = encode_prompt(loaded, text, chat=spec["chat"], max_new_tokens=spec["params"]["max_new_tokens"])
    return Generation(prompt=text, text=out["text"], prompt_tokens=out["prompt_tokens"], new_tokens=out["new_tokens"],
                      seconds=out["seconds"], prompt_ids=prompt_ids, token_ids=list(out["token_ids"]),
                      finish_reason=out["finish_reason"], seed=out["seed"], params=spec["params"],
                      adapter=out["adapter"], warnings=list(out.get("warnings") or []),
                      approximate=out.get("approximate"))


def stored_grid(run: Run) -> tuple[GridSpec, GridResult]:
    """A stored grid run as its spec and result (batches: 0, not stored), so a page can open it again."""
    if run.kind != "grid":
        raise InvalidSetting(f"run {run.id} is not a grid", field="run")
    cells = [Cell(**o) for o in run.outputs]
    return GridSpec.from_dict(run.spec), GridResult(cells=cells, seconds=run.seconds, batches=0,
                                                    approximate=run.approximate)


def _cell_key(output: dict) -> tuple:
    return (output.get("adapter"), output.get("endpoint"), output.get("params"), output.get("row", 0),
            output.get("repeat", 0))


def diff_runs(a: Run, b: Run) -> list[dict]:
    """Outputs of two runs side by side, matched by (adapter or endpoint, parameter set, row, repeat)."""
    right = {_cell_key(o): o for o in b.outputs}
    rows = []
    for o in a.outputs:
        other = right.get(_cell_key(o), {})
        rows.append({"adapter": o.get("endpoint") or o.get("adapter") or BASE_CHOICE, "params": o.get("params"),
                     "row": o.get("row", 0), "repeat": o.get("repeat", 0), f"run {a.id}": o.get("text"),
                     f"run {b.id}": other.get("text"),
                     "same": o.get("text") == other.get("text")})
    return rows


PARAM_COLUMNS = ("max_new_tokens", "temperature", "top_k", "top_p", "repetition_penalty")


def _output_params(run: Run, output: dict) -> dict:
    """The sampling parameters that made one output: a generation's own, or the grid parameter set whose label
    the output carries."""
    if "params" in run.spec and isinstance(run.spec["params"], dict):
        return run.spec["params"]
    for p in run.spec.get("param_sets") or []:
        if SamplingParams(**p).label == output.get("params"):
            return p
    return {}


def export_runs(runs: list[Run], fmt: str) -> str:
    """Runs as JSON (everything) or CSV (one line per output with every setting that made it: model, adapter or
    endpoint, each sampling parameter, seed, ISO 8601 UTC time), spreadsheet-safe."""
    if fmt == "json":
        return json.dumps([asdict(r) for r in runs], indent=2, default=str)
    if fmt != "csv":
        raise InvalidSetting(f"export format must be csv or json, got {fmt!r}", field="format")
    rows = []
    for r in runs:
        created = datetime.fromtimestamp(r.created, tz=UTC).isoformat(timespec="seconds")
        for o in r.outputs:
            params = _output_params(r, o)
            rows.append({"run": r.id, "created": created, "kind": r.kind, "model": r.model,
                         "adapter": o.get("adapter") or "", "endpoint": o.get("endpoint") or "",
                         "param_set": o.get("params"), **{k: params.get(k) for k in PARAM_COLUMNS},
                         "seed": o.get("seed", r.seed), "row": o.get("row", 0), "repeat": o.get("repeat", 0),
                         "prompt": o.get("prompt", r.prompt), "text": o.get("text"),
                         "prompt_tokens": o.get("prompt_tokens"), "new_tokens": o.get("new_tokens"),
                         "seconds": o.get("seconds"), "dtype": r.environment.get("dtype"),
                         "device": r.environment.get("device"), "batch_size": r.environment.get("batch_size"),
                         "approximate": r.approximate or ""})
    return to_safe_csv(pd.DataFrame(rows, columns=["run", "created", "kind", "model", "adapter", "endpoint",
                                                   "param_set", *PARAM_COLUMNS, "seed", "row", "repeat", "prompt",
                                                   "text", "prompt_tokens", "new_tokens", "seconds", "dtype",
                                                   "device", "batch_size", "approximate"]))


def runs_table(runs: list[Run]) -> list[dict]:
    """One summary line per run, for a table."""
    return [{"id": r.id, "when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created)), "kind": r.kind,
             "model": r.model, "adapters": ", ".join(a or BASE_CHOICE for a in r.adapters), "prompt": r.prompt[:80],
             "outputs": len(r.outputs), "new tokens": r.new_tokens, "seconds": round(r.seconds, 2),
             "approximate": r.approximate or "",
             "first output": (r.outputs[0].get("text") or "")[:80] if r.outputs else ""} for r in runs]


def grid_table(spec: GridSpec, result: GridResult) -> pd.DataFrame:
    """A grid's outputs for a table: rows x settings with the text in each cell; with repeats, one line per row and
    setting with how often the samples agree."""
    table = pd.DataFrame([{"row": c.row, **c.variables,
                           "setting": f"{c.endpoint or c.adapter or BASE_CHOICE} · {c.params}", "text": c.text}
                          for c in result.cells])
    if spec.repeats == 1:
        return table.pivot_table(index=["row", *template_variables(spec.template)], columns="setting", values="text",
                                 aggfunc="first")
    groups = table.groupby(["row", "setting"], sort=False)["text"].apply(list)
    return pd.DataFrame([{"row": r, "setting": s, **vars(summarize_repeats(t))}
                         for (r, s), t in groups.items()]).drop(columns="counts")
