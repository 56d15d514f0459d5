"""LoRA adapters: the on-disk registry in the workspace, and switching adapters over one loaded base model."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from workbench import workspace
from workbench.errors import UnsafePath, WorkbenchError
from workbench.models import LoadedModel
from workbench.store import Store

METADATA_FILE = "workbench_adapter.json"  # ours, beside PEFT's own files
REQUIRED_FILES = ("adapter_config.json", "adapter_model.safetensors")
BASE_CHOICE = "base model (no adapter)"  # the one label every page and command shows for "no adapter"
ACTIVE_KEY = "active_adapter"  # settings row: {base_model: adapter name}


class AdapterError(WorkbenchError):
    """An adapter folder is incomplete, for another base model, or its name is taken."""


@dataclass(frozen=True)
class AdapterInfo:
    """A complete adapter folder: PEFT's files plus our metadata (base model, data hash, config, metrics)."""

    name: str
    path: Path
    base_model: str
    task: str = "causal"  # causal | classification
    metadata: dict = field(default_factory=dict, compare=False, hash=False)


def adapters_dir() -> Path:
    return workspace.subdir("adapters")


def read_adapter(path: Path | str) -> AdapterInfo:
    """Validate an adapter folder (ours or any PEFT one) and read its metadata."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise AdapterError("no such adapter folder", path=str(path))
    missing = [f for f in REQUIRED_FILES if not (path / f).exists()]
    if missing:
        raise AdapterError(f"not a complete PEFT adapter: missing {', '.join(missing)}", path=str(path))
    meta_path = path / METADATA_FILE
    metadata = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    peft_config = json.loads((path / "adapter_config.json").read_text())
    base = metadata.get("base_model") or peft_config.get("base_model_name_or_path") or "unknown"
    task = metadata.get("task") or ("classification" if peft_config.get("task_type") == "SEQ_CLS" else "causal")
    return AdapterInfo(name=metadata.get("name", path.name), path=path.resolve(), base_model=base, task=task,
                       metadata=metadata)


def list_adapters(base_model: str | None = None) -> list[AdapterInfo]:
    """Registered adapters (complete folders only; staging folders start with '.'), newest first."""
    found = []
    for folder in adapters_dir().iterdir():
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            info = read_adapter(folder)
        except (AdapterError, json.JSONDecodeError):
            continue
        if base_model is None or info.base_model == base_model:
            found.append(info)
    return sorted(found, key=lambda a: a.path.stat().st_mtime, reverse=True)


def resolve(name_or_folder: Path | str) -> AdapterInfo:
    """An adapter given as a registered name (checked with safe_child) or as a folder path.

    A registered name wins over a folder of the same name in the current directory; a text that is no safe
    name (it has a slash, or escapes the registry) is read as a folder."""
    text = str(name_or_folder)
    try:
        folder = workspace.safe_child(adapters_dir(), text, field="adapter")
    except UnsafePath:
        folder = None
    if folder is not None and folder.is_dir():
        return read_adapter(folder)
    if Path(text).expanduser().is_dir():
        return read_adapter(text)
    if folder is None:
        raise UnsafePath(f"{text!r} is neither an adapter folder nor a name inside the workspace", field="adapter")
    raise AdapterError(f"no adapter named {text!r} in the workspace, and no such folder", field="adapter")


def adapter_rows(base_model: str | None = None) -> list[dict]:
    """One table row per registered adapter, with its final metrics."""
    rows = []
    for a in list_adapters(base_model):
        m = a.metadata.get("metrics") or {}
        created = a.metadata.get("created") or a.path.stat().st_mtime
        rows.append({"name": a.name, "base model": a.base_model, "task": a.task, "steps": m.get("steps"),
                     "val loss": m.get("val_loss"), "data sha256": (a.metadata.get("data_sha256") or "")[:12],
                     "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(created)), "path": str(a.path)})
    return rows


def active_adapter(base_model: str) -> str | None:
    """The adapter picked as active ("Make active") for this base model (None: the base itself)."""
    name = (Store().get_setting(ACTIVE_KEY, {}) or {}).get(base_model)
    if name and not (adapters_dir() / name).is_dir():
        return None  # deleted or renamed since
    return name


def set_active_adapter(base_model: str, name: str | None) -> None:
    store = Store()
    active = store.get_setting(ACTIVE_KEY, {}) or {}
    active[base_model] = name
    store.set_setting(ACTIVE_KEY, active)


def staging_dir(name: str) -> Path:
    """A hidden folder to write an adapter into before `register` makes it visible."""
    workspace.safe_child(adapters_dir(), name, field="adapter name")
    path = adapters_dir() / f".staging-{name}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def register(staging: Path, name: str, metadata: dict) -> AdapterInfo:
    """Write our metadata, check the folder is complete, then rename it into the registry in one step."""
    target = workspace.safe_child(adapters_dir(), name, field="adapter name")
    if target.exists():
        raise AdapterError(f"an adapter named {name!r} already exists; pick another name", field="adapter name")
    (staging / METADATA_FILE).write_text(json.dumps({**metadata, "name": name}, indent=2, default=str))
    read_adapter(staging)  # refuses an incomplete folder before it becomes visible
    staging.rename(target)
    return read_adapter(target)


def import_adapter(folder: Path | str, name: str) -> AdapterInfo:
    """Copy any PEFT adapter folder into the registry under `name` (checked complete before it appears)."""
    source = read_adapter(folder)
    staging = staging_dir(name)
    shutil.copytree(source.path, staging, dirs_exist_ok=True)
    metadata = {**source.metadata, "base_model": source.base_model, "task": source.task,
                "imported_from": str(source.path), "created": time.time()}
    metadata.pop("name", None)
    (staging / METADATA_FILE).unlink(missing_ok=True)
    return register(staging, name, metadata)


def rename(name: str, new_name: str) -> AdapterInfo:
    source = workspace.safe_child(adapters_dir(), name, field="adapter name")
    target = workspace.safe_child(adapters_dir(), new_name, field="new name")
    if target.exists():
        raise AdapterError(f"an adapter named {new_name!r} already exists", field="new name")
    info = read_adapter(source)
    meta = {**info.metadata, "name": new_name}
    (source / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=str))
    source.rename(target)
    return read_adapter(target)


def delete(name: str) -> None:
    path = workspace.safe_child(adapters_dir(), name, field="adapter name")
    read_adapter(path)
    trash = path.with_name(f".deleting-{name}-{os.getpid()}")
    path.rename(trash)  # disappears from the registry at once, even if the removal below is interrupted
    shutil.rmtree(trash, ignore_errors=True)


def export_zip(name: str, destination: Path) -> Path:
    """A zip of one adapter folder, to move it to another machine."""
    path = workspace.safe_child(adapters_dir(), name, field="adapter name")
    read_adapter(path)
    archive = shutil.make_archive(str(Path(destination) / name), "zip", root_dir=path.parent, base_dir=path.name)
    return Path(archive)


def _adapter_key(info: AdapterInfo) -> str:
    """The PEFT adapter name for a folder: changes when the files change, so a rewrite is reloaded."""
    stamp = int((info.path / "adapter_model.safetensors").stat().st_mtime_ns)
    safe = "".join(c if c.isalnum() else "_" for c in info.name)
    return f"{safe}_{stamp}"


@contextlib.contextmanager
def use_adapter(loaded: LoadedModel, adapter: Path | str | AdapterInfo | None) -> Iterator[str | None]:
    """Run a block with one adapter active over the shared base model (None: the base itself).

    LoRA layers stay injected once loaded; outside this block they are disabled, so every other
    caller of `loaded.model` sees the base model. Yields the active adapter's name.
    """
    from peft import PeftModel

    with loaded.lock:
        if adapter is None:
            yield None
            return
        info = adapter if isinstance(adapter, AdapterInfo) else read_adapter(adapter)
        if info.task != "causal":
            raise AdapterError(f"{info.name} is a {info.task} adapter; only causal-LM adapters apply here",
                               path=str(info.path))
        key = _adapter_key(info)
        peft_model = loaded.peft
        if peft_model is None:
            loaded.peft = peft_model = PeftModel.from_pretrained(loaded.model, info.path, adapter_name=key)
        elif key not in peft_model.peft_config:
            peft_model.load_adapter(info.path, adapter_name=key)
        peft_model.set_adapter(key)  # exactly one active adapter: PEFT would silently keep the first
        peft_model.base_model.enable_adapter_layers()
        peft_model.eval()
        try:
            yield info.name
        finally:
            peft_model.base_model.disable_adapter_layers()
