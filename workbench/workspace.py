"""Where the workbench keeps its files: `$WORKBENCH_HOME` (default ~/.cache/llm-workbench)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import UnsafePath

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def home() -> Path:
    """The workspace folder, created on first use."""
    path = Path(os.environ.get("WORKBENCH_HOME", Path.home() / ".cache" / "llm-workbench")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_cache() -> Path:
    """Converted model weights (GGUF -> safetensors); `$WORKBENCH_MODEL_CACHE` overrides, tests share one."""
    override = os.environ.get("WORKBENCH_MODEL_CACHE")
    path = Path(override).expanduser() if override else home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def subdir(name: str) -> Path:
    """A named folder inside the workspace (adapters, runs, uploads...)."""
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def safe_child(parent: Path, name: str, *, field: str = "name") -> Path:
    """`parent / name` for a user-supplied name, refusing anything that could leave `parent`."""
    if not _SAFE_NAME.match(name or "") or name in {".", ".."}:
        raise UnsafePath(f"{name!r} is not a safe name: use letters, digits, '.', '_' or '-' "
                         "(at most 128, not starting with '.')", field=field)
    child = (parent / name).resolve()
    if child.parent != parent.resolve():
        raise UnsafePath(f"{name!r} resolves outside {parent}", field=field)
    return child


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
            entries.append(WorkspaceEntry(item.name, 1, item.stat().st_size))
        elif item.is_dir():
            files = [p for p in item.rglob("*") if p.is_file()]
            entries.append(WorkspaceEntry(item.name + "/", len(files), sum(p.stat().st_size for p in files)))
    return entries
