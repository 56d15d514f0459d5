"""What a run leaves in the workspace: its folder (config, metrics log, log, checkpoints) and its store row."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from workbench import workspace
from workbench.store import Store


@dataclass(frozen=True)
class RunPaths:
    """The files of one run folder, `$WORKBENCH_HOME/runs/<job>/` (or any folder for a CLI run)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"  # one JSON object per line: train steps and evaluations

    @property
    def log(self) -> Path:
        return self.root / "log.txt"

    @property
    def stop_request(self) -> Path:
        return self.root / "STOP"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"  # the final adapter of a CLI run (jobs register theirs instead)


def runs_dir() -> Path:
    return workspace.subdir("runs")


def append_metrics(paths: RunPaths, record: dict) -> None:
    """One line per record; a reader never sees half a line because each write is one small append."""
    with open(paths.metrics, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(paths: RunPaths) -> list[dict]:
    """All complete metric lines (a line being written right now is skipped)."""
    if not paths.metrics.exists():
        return []
    out = []
    for line in paths.metrics.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def update_job(job_id: str | None, **values) -> None:
    """Set columns of a job row; a run without a row (a CLI run) is a no-op."""
    if not job_id:
        return
    if "metrics" in values and not isinstance(values["metrics"], str):
        values["metrics"] = json.dumps(values["metrics"], default=str)
    if "config" in values and not isinstance(values["config"], str):
        values["config"] = json.dumps(values["config"])
    columns = ", ".join(f"{k} = ?" for k in values)
    with Store().connect() as conn:
        conn.execute(f"UPDATE jobs SET {columns} WHERE id = ?", (*values.values(), job_id))


def get_job(job_id: str) -> dict | None:
    with Store().connect() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return _decode(row) if row else None


def list_job_rows(status: str | None = None) -> list[dict]:
    query, args = "SELECT * FROM jobs", ()
    if status:
        query, args = query + " WHERE status = ?", (status,)
    with Store().connect() as conn:
        rows = conn.execute(query + " ORDER BY created DESC", args).fetchall()
    return [_decode(r) for r in rows]


def insert_job(row: dict) -> None:
    row = {**row, "config": json.dumps(row["config"]), "created": row.get("created", time.time())}
    with Store().connect() as conn:
        conn.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                     tuple(row.values()))


def _decode(row) -> dict:
    d = dict(row)
    d["config"] = json.loads(d["config"])
    d["metrics"] = json.loads(d["metrics"] or "{}")
    return d
