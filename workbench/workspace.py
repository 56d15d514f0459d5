"""Where the workbench keeps its files: `$WORKBENCH_HOME` (default ~/.cache/llm-workbench)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import UnsafePath, WorkbenchError


class DataDirMissing(WorkbenchError):
    """The project's data sets cannot be found (an installed package without its data/ folder)."""


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def home() -> Path:
    """The workspace folder, created on first use; always absolute, so a job process started from another working
    directory (it inherits WORKBENCH_HOME) writes to the same store."""
    path = Path(os.environ.get("WORKBENCH_HOME", Path.home() / ".cache" / "llm-workbench")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_cache() -> Path:
    """Converted model weights (GGUF -> safetensors); `$WORKBENCH_MODEL_CACHE` overrides, tests share one."""
    override = os.environ.get("WORKBENCH_MODEL_CACHE")
    path = Path(override).expanduser() if override else home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The project's own data sets (evaluation sets, fine-tuning demos, grid example): `$WORKBENCH_DATA`, else the
    data/ folder beside the package in a checkout. The one place that knows where they are."""
    override = os.environ.get("WORKBENCH_DATA")
    path = Path(override).expanduser() if override else Path(__file__).resolve().parents[1] / "data"
    if not path.is_dir():
        raise DataDirMissing(f"the data sets folder {path} does not exist: set WORKBENCH_DATA to the project's "
                             "data/ folder", path=str(path))
    return path


def subdir(name: str) -> Path:
    """A named folder inside the workspace (adapters, runs, uploads...)."""
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_file() -> Path:
    """`<workspace>/logs/app.log`: unexpected errors the app caught, with their tracebacks."""
    return subdir("logs") / "app.log"


def safe_child(parent: Path, name: str, *, field: str = "name") -> Path:
    """`parent / name` for a user-supplied name, refusing anything that could leave `parent`."""
    if not _SAFE_NAME.match(name or "") or name in {".", ".."}:
        raise UnsafePath(f"{name!r} is not a safe name: use ASCII letters (no accents), digits, '.', '_' or '-' "
                         "(at most 128, not starting with '.')", field=field)
    child = (parent / name).resolve()
    if child.parent != parent.resolve():
        raise UnsafePath(f"{name!r} resolves outside {parent}", field=field)
    return child


def save_upload(folder: str, filename: str, body: bytes) -> Path:
    """Keep an uploaded file in `<workspace>/<folder>/` under `<sha256 prefix>-<cleaned name>`: a name cannot leave
    the folder, the same bytes always land on the same path, and a later upload never rewrites an earlier one."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(filename).name).lstrip("._-")
    name = f"{hashlib.sha256(body).hexdigest()[:16]}-{cleaned or 'upload'}"[:128]
    target = safe_child(subdir(folder), name, field="file")
    if not target.exists():
        staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        staging.write_bytes(body)
        staging.replace(target)  # atomic: a reader never sees half a file
    return target


@dataclass(frozen=True)
class WorkspaceEntry:
    name: str
    files: int
    bytes: int


def summary() -> list[WorkspaceEntry]:
    """What the workspace holds, one entry per top-level item, for the home page."""
    entries = []
    for item in sorted(home().iterdir()):
        if item.is_file():
            size = _size(item)
            if size is not None:
                entries.append(WorkspaceEntry(item.name, 1, size))
        elif item.is_dir():
            sizes = [s for s in map(_size, item.rglob("*")) if s is not None]
            entries.append(WorkspaceEntry(item.name + "/", len(sizes), sum(sizes)))
    return entries


def _size(path: Path) -> int | None:
    """A regular file's size, or None when it is not one or vanished since it was listed
    (a training job rotates checkpoints while the home page adds them up)."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None
