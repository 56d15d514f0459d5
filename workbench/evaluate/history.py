"""Evaluation runs in the workspace store: save a report, list past runs; export scores, per-example rows and paired
differences (of the run just made or of a stored one) as CSV or JSON."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pandas as pd

from workbench.errors import InvalidSetting
from workbench.evaluate.run import EvaluationReport
from workbench.evaluate.sets import EvalSet
from workbench.exports import to_safe_csv
from workbench.store import Store

SCORE_COLUMNS = ["run_id", "created", "base_model", "dataset", "model", "key", "value", "ci_low", "ci_high"]
PAIRED_COLUMNS = ["model", "against", "key", "difference", "low", "high", "clear", "better", "resamples",
                  "n_examples"]


def save_run(report: EvaluationReport, store: Store | None = None) -> int:
    """Record a finished evaluation (scores, intervals and per-example rows); returns the run id."""
    store = store or Store()
    with store.connect() as conn:
        cur = conn.execute(
            "INSERT INTO evaluation_runs(created, base_model, dataset, dataset_path, dataset_sha256, n_examples, "
            "metrics, options, seconds, device, dtype) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), report.base_model, report.dataset.name, report.dataset.path, report.dataset.sha256,
             len(report.dataset), json.dumps(report.metrics), json.dumps(asdict(report.options)),
             sum(r.seconds for r in report.results), report.device or None, report.dtype or None))
        run_id = int(cur.lastrowid)
        conn.execute("UPDATE evaluation_runs SET examples = ? WHERE id = ?",
                     (example_inputs(report.dataset).to_json(orient="records"), run_id))
        for r in report.results:
            conn.executemany(
                "INSERT INTO evaluation_scores(run_id, model, adapter, endpoint, key, value, ci_low, ci_high) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, r.label, r.adapter, json.dumps(r.endpoint) if r.endpoint else None, k, v, *r.intervals[k])
                 for k, v in r.scores.items()])
            conn.execute("INSERT INTO evaluation_examples(run_id, model, records) VALUES (?, ?, ?)",
                         (run_id, r.label, r.per_example.to_json(orient="records", double_precision=15)))
        conn.executemany(
            f"INSERT INTO evaluation_comparisons({', '.join(PAIRED_COLUMNS)}, run_id) "
            f"VALUES ({', '.join('?' * (len(PAIRED_COLUMNS) + 1))})",
            [(*row, run_id) for row in paired_rows(report).astype(object).itertuples(index=False)])
    return run_id


def list_runs(store: Store | None = None, limit: int = 200) -> pd.DataFrame:
    """Past runs, newest first: one row per run with its models and set."""
    with (store or Store()).connect() as conn:
        rows = conn.execute(
            "SELECT r.id AS run_id, r.created, r.base_model, r.dataset, r.n_examples, r.metrics, r.seconds, "
            "group_concat(DISTINCT s.model) AS models FROM evaluation_runs r "
            "LEFT JOIN evaluation_scores s ON s.run_id = r.id GROUP BY r.id ORDER BY r.id DESC LIMIT ?",
            (limit,)).fetchall()
    table = pd.DataFrame([dict(r) for r in rows],
                         columns=["run_id", "created", "base_model", "dataset", "n_examples", "metrics", "seconds",
                                  "models"])
    table["created"] = pd.to_datetime(table["created"], unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")
    return table


def run_scores(run_ids: list[int] | None = None, store: Store | None = None) -> pd.DataFrame:
    """Scores with intervals, one row per (run, model, key); all runs when `run_ids` is None."""
    query = ("SELECT s.run_id, r.created, r.base_model, r.dataset, s.model, s.key, s.value, s.ci_low, s.ci_high "
             "FROM evaluation_scores s JOIN evaluation_runs r ON r.id = s.run_id")
    params: tuple = ()
    if run_ids is not None:
        query += f" WHERE s.run_id IN ({','.join('?' * len(run_ids))})"
        params = tuple(int(i) for i in run_ids)
    with (store or Store()).connect() as conn:
        rows = conn.execute(query + " ORDER BY s.run_id DESC, s.model, s.key", params).fetchall()
    table = pd.DataFrame([dict(r) for r in rows], columns=SCORE_COLUMNS)
    table["created"] = pd.to_datetime(table["created"], unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")
    return table


def get_run(run_id: int, store: Store | None = None) -> dict:
    """One past run as recorded: set, metrics, options, and each model (label, adapter folder, endpoint) with its
    scores; what a notebook needs to run it again."""
    with (store or Store()).connect() as conn:
        row = conn.execute("SELECT * FROM evaluation_runs WHERE id = ?", (int(run_id),)).fetchone()
        scores = conn.execute("SELECT model, adapter, endpoint, key, value FROM evaluation_scores WHERE run_id = ? "
                              "ORDER BY rowid", (int(run_id),)).fetchall()
    if row is None:
        raise InvalidSetting(f"there is no evaluation run {run_id} in this workspace", field="run")
    models: dict[str, dict] = {}
    for s in scores:
        entry = models.setdefault(s["model"], {"label": s["model"], "adapter": s["adapter"], "scores": {},
                                               "endpoint": json.loads(s["endpoint"]) if s["endpoint"] else None})
        entry["scores"][s["key"]] = s["value"]
    return {**dict(row), "metrics": json.loads(row["metrics"]), "options": json.loads(row["options"]),
            "models": list(models.values())}


def run_examples(run_id: int, store: Store | None = None) -> dict[str, pd.DataFrame]:
    """A past run's per-example rows, per model."""
    with (store or Store()).connect() as conn:
        rows = conn.execute("SELECT model, records FROM evaluation_examples WHERE run_id = ? ORDER BY rowid",
                            (run_id,)).fetchall()
    return {r["model"]: pd.DataFrame(json.loads(r["records"])) for r in rows}


# ---------------------------------------------------------------- per-example rows and paired differences

def example_inputs(dataset: EvalSet) -> pd.DataFrame:
    """What each example gives the models: its line, and prompt and reference (or the text, for perplexity sets)."""
    columns = ["line", "text"] if dataset.kind == "text" else ["line", "prompt", "reference"]
    return pd.DataFrame([{c: getattr(e, c) for c in columns} for e in dataset.examples], columns=columns)


def example_rows(inputs: pd.DataFrame, per_model: dict[str, pd.DataFrame],
                 adapter_of: dict[str, str | None]) -> pd.DataFrame:
    """One row per (model, example): the model, its adapter folder, the example's inputs, the model's prediction and
    every per-example value the run kept (tokens and NLL for perplexity, then one column per score key)."""
    frames = []
    for label, table in per_model.items():
        values = table.drop(columns=["line"], errors="ignore").rename(columns={"output": "prediction"})
        ordered = ["prediction"] if "prediction" in values else []
        values = values[ordered + [c for c in values.columns if c != "prediction"]]
        frames.append(pd.concat([pd.DataFrame({"model": label, "adapter": adapter_of.get(label)}, index=inputs.index),
                                 inputs, values.set_axis(inputs.index)], axis=1))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model", "adapter", *inputs])


def report_examples(report: EvaluationReport) -> pd.DataFrame:
    """The per-example export of a run just made (`example_rows`)."""
    return example_rows(example_inputs(report.dataset), {r.label: r.per_example for r in report.results},
                        {r.label: r.adapter for r in report.results})


def paired_rows(report: EvaluationReport) -> pd.DataFrame:
    """The run's paired comparisons with the bootstrap resamples and the number of examples they were drawn from."""
    table = report.comparisons.assign(resamples=report.options.resamples, n_examples=len(report.dataset))
    return table.reindex(columns=PAIRED_COLUMNS)  # a report built by hand may carry no comparison columns


def stored_examples(run_id: int, store: Store | None = None) -> pd.DataFrame:
    """The per-example export of a stored run; a run recorded before inputs were stored has only their line."""
    store = store or Store()
    with store.connect() as conn:
        row = conn.execute("SELECT examples FROM evaluation_runs WHERE id = ?", (run_id,)).fetchone()
        adapter_of = {r["model"]: r["adapter"] for r in conn.execute(
            "SELECT DISTINCT model, adapter FROM evaluation_scores WHERE run_id = ?", (run_id,))}
    per_model = run_examples(run_id, store)
    if row is not None and row["examples"]:
        inputs = pd.DataFrame(json.loads(row["examples"]))
    else:
        inputs = pd.DataFrame({"line": next(iter(per_model.values()), pd.DataFrame({"line": []}))["line"]})
    return example_rows(inputs, per_model, adapter_of)


def stored_paired(run_id: int, store: Store | None = None) -> pd.DataFrame:
    """The paired differences of a stored run (none for a run recorded before they were stored)."""
    with (store or Store()).connect() as conn:
        rows = conn.execute(f"SELECT {', '.join(PAIRED_COLUMNS)} FROM evaluation_comparisons WHERE run_id = ? "
                            "ORDER BY rowid", (run_id,)).fetchall()
    table = pd.DataFrame([dict(r) for r in rows], columns=PAIRED_COLUMNS)
    return table.astype({"clear": bool, "better": bool})


def export_table(table: pd.DataFrame, fmt: str) -> str:
    """A table (scores, per-example rows, paired differences) as CSV (spreadsheet-safe: model names, prompts and
    outputs are user text) or JSON (records) text."""
    if fmt == "csv":
        return to_safe_csv(table)
    if fmt == "json":
        return table.to_json(orient="records", indent=1)
    raise ValueError(f"unknown export format {fmt!r}")
