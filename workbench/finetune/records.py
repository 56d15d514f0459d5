"""What a run leaves in the workspace: its folder (config, metrics log, log, checkpoints) and its store row."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from workbench import workspace
from workbench.errors import WorkbenchError
from workbench.store import Store

STARTING_GRACE_S = 120  # a claimed job may have no process yet for this long (the launcher is starting)
HEARTBEAT_S = 10  # the training process writes its heartbeat this often
HEARTBEAT_STALE_S = 120  # a process silent this long is frozen: it no longer runs its job


class JobRowMissing(WorkbenchError):
    """A job's row is not in the store this process writes to (another workspace?)."""


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
    def data_hash(self) -> Path:
        return self.root / "data.sha256"  # SHA-256 of the training data frozen into the run folder at submit

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
    """All complete metric lines (a line being written right now is skipped), one per (kind, step): a resumed
    run re-logs the steps after its checkpoint, and the later record of a step wins."""
    if not paths.metrics.exists():
        return []
    latest: dict[tuple, dict] = {}
    for line in paths.metrics.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            latest[(record.get("kind"), record.get("step"))] = record
    return sorted(latest.values(), key=lambda r: (r.get("step") or 0, str(r.get("kind"))))


def update_job(job_id: str | None, **values) -> None:
    """Set columns of a job row; a run without a row (a CLI run) is a no-op."""
    if not job_id:
        return
    if "metrics" in values and not isinstance(values["metrics"], str):
        values["metrics"] = json.dumps(values["metrics"], default=str)
    if "config" in values and not isinstance(values["config"], str):
        values["config"] = json.dumps(values["config"])
    columns = ", ".join(f"{k} = ?" for k in values)
    store = Store()
    with store.connect() as conn:
        changed = conn.execute(f"UPDATE jobs SET {columns} WHERE id = ?", (*values.values(), job_id)).rowcount
    if changed != 1:  # silently updating nothing once hid a job writing to another workspace's store
        raise JobRowMissing(f"job {job_id} has no row in {store.path}: is WORKBENCH_HOME the app's workspace?",
                            field="job")


def claim_next_queued() -> str | None:
    """Mark the oldest queued job running, in one statement that also checks that no job runs: of two tabs, the
    CLI and a finishing job racing to start it, exactly one gets its id back; the others get None."""
    with Store().connect() as conn:
        row = conn.execute(
            "UPDATE jobs SET status = 'running', pid = NULL, pid_start = NULL, started = ?, finished = NULL, "
            "message = 'starting' WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY created LIMIT 1) "
            "AND status = 'queued' AND NOT EXISTS (SELECT 1 FROM jobs WHERE status = 'running') RETURNING id",
            (time.time(),)).fetchone()
    return row[0] if row else None


def process_identity(pid: int) -> str | None:
    """'<boot id>:<start time>' of a live process, None when there is none (or it is a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return None if fields[0] == "Z" else f"{boot}:{fields[19]}"


def job_alive(row: dict) -> bool:
    """A running row is alive only if its process is the one recorded (pid and start time agree) and its heartbeat
    is recent, or it was claimed moments ago and its launcher is still starting."""
    if row.get("pid") is None:
        return time.time() - (row.get("started") or 0) < STARTING_GRACE_S
    return process_matches(row) and not heartbeat_stale(row)


def process_matches(row: dict) -> bool:
    """The row's pid is still the process that was recorded (not a reused pid)."""
    identity = process_identity(int(row["pid"]))
    return identity is not None and identity == row.get("pid_start")


def heartbeat_stale(row: dict) -> bool:
    beat = row.get("heartbeat")
    return beat is not None and time.time() - beat > HEARTBEAT_STALE_S


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
