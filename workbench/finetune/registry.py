"""Registry actions the adapters module leaves to fine-tuning: import a folder, the workspace's active adapter."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from workbench.models import adapters
from workbench.models.adapters import AdapterInfo
from workbench.store import Store

ACTIVE_KEY = "active_adapter"  # settings row: {base_model: adapter name}


def import_adapter(folder: Path | str, name: str) -> AdapterInfo:
    """Copy any PEFT adapter folder into the registry under `name` (checked complete before it appears)."""
    source = adapters.read_adapter(folder)
    staging = adapters.staging_dir(name)
    shutil.copytree(source.path, staging, dirs_exist_ok=True)
    metadata = {**source.metadata, "base_model": source.base_model, "task": source.task,
                "imported_from": str(source.path), "created": time.time()}
    metadata.pop("name", None)
    (staging / adapters.METADATA_FILE).unlink(missing_ok=True)
    return adapters.register(staging, name, metadata)


def active_adapter(base_model: str) -> str | None:
    """The adapter picked as active for this base model in the workspace (None: the base itself)."""
    name = (Store().get_setting(ACTIVE_KEY, {}) or {}).get(base_model)
    if name and not (adapters.adapters_dir() / name).is_dir():
        return None  # deleted or renamed since
    return name


def set_active_adapter(base_model: str, name: str | None) -> None:
    store = Store()
    active = store.get_setting(ACTIVE_KEY, {}) or {}
    active[base_model] = name
    store.set_setting(ACTIVE_KEY, active)


def adapter_rows(base_model: str | None = None) -> list[dict]:
    """One table row per registered adapter, with its final metrics."""
    rows = []
    for a in adapters.list_adapters(base_model):
        m = a.metadata.get("metrics") or {}
        rows.append({"name": a.name, "base model": a.base_model, "task": a.task, "steps": m.get("steps"),
                     "val loss": m.get("val_loss"), "data sha256": (a.metadata.get("data_sha256") or "")[:12],
                     "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(a.metadata.get("created") or
                                                                                a.path.stat().st_mtime)),
                     "path": str(a.path)})
    return rows
