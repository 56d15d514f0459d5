"""LoRA adapters: the on-disk registry in the workspace, and switching adapters over one loaded base model."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from workbench import trash, workspace
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
    """An adapter folder: PEFT's files plus our metadata (base model, data hash, config, metrics).

    A registered adapter's name is its folder's name, the one source (see `_name`). `broken` says why a registered
    folder cannot be used ('' when it can)."""

    name: str
    path: Path
    base_model: str
    task: str = "causal"  # causal | classification
    metadata: dict = field(default_factory=dict, compare=False, hash=False)
    broken: str = ""


def adapters_dir() -> Path:
    return workspace.subdir("adapters")


def registry_stamp() -> tuple[str, ...]:
    """The registered folder names, sorted: a page that polls compares stamps to see the registry change."""
    return tuple(sorted(p.name for p in adapters_dir().iterdir() if not p.name.startswith(".")))


def _read_json_object(path: Path) -> dict:
    """A JSON object from a file, or AdapterError naming the file (unreadable, not UTF-8, not JSON, not an object)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise AdapterError(f"cannot read it: {err.strerror or err}", path=str(path)) from None
    except UnicodeDecodeError:
        raise AdapterError("not UTF-8 text", path=str(path)) from None
    except json.JSONDecodeError as err:
        raise AdapterError(f"not valid JSON (line {err.lineno}: {err.msg})", path=str(path)) from None
    if not isinstance(value, dict):
        raise AdapterError(f"holds {type(value).__name__ if value is not None else 'null'}, not a JSON object",
                           path=str(path))
    return value


def read_adapter(path: Path | str) -> AdapterInfo:
    """Validate an adapter folder (ours or any PEFT one) and read its metadata; AdapterError says what is wrong."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise AdapterError("no such adapter folder", path=str(path))
    missing = [f for f in REQUIRED_FILES if not (path / f).exists()]
    if missing:
        raise AdapterError(f"not a complete PEFT adapter: missing {', '.join(missing)}", path=str(path))
    meta_path = path / METADATA_FILE
    metadata = _read_json_object(meta_path) if meta_path.exists() else {}
    peft_config = _read_json_object(path / "adapter_config.json")
    base = metadata.get("base_model") or peft_config.get("base_model_name_or_path") or "unknown"
    task = metadata.get("task") or ("classification" if peft_config.get("task_type") == "SEQ_CLS" else "causal")
    return AdapterInfo(name=_name(path, metadata), path=path.resolve(), base_model=str(base), task=str(task),
                       metadata=metadata)


def _name(path: Path, metadata: dict) -> str:
    """In the registry the folder's name is the name (the metadata holds none); a folder elsewhere (a CLI run's
    RUN_DIR/adapter) keeps the label its run wrote, else its folder's name."""
    if path.resolve().parent == adapters_dir().resolve() or not isinstance(metadata.get("name"), str):
        return path.name
    return metadata["name"]


def _registered(folder: Path) -> AdapterInfo:
    """A registry folder as listed: usable, or broken with the reason (never raises)."""
    try:
        return read_adapter(folder)
    except AdapterError as err:
        return AdapterInfo(name=folder.name, path=folder.resolve(), base_model="unknown", broken=err.message)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def list_adapters(base_model: str | None = None, *, include_broken: bool = False) -> list[AdapterInfo]:
    """Registered adapters, newest first (staging folders start with '.'); never raises.

    A folder that cannot be used (missing files, bad metadata) is left out, or listed with `broken` set to the
    reason when `include_broken` (the registry view, where it can still be deleted)."""
    found = []
    for folder in adapters_dir().iterdir():
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        info = _registered(folder)
        if info.broken and not include_broken:
            continue
        if base_model is None or info.base_model == base_model or info.broken:
            found.append(info)
    return sorted(found, key=lambda a: _mtime(a.path), reverse=True)


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
    """One table row per registered adapter, with its final metrics; a broken folder says why in `status`."""
    rows = []
    for a in list_adapters(base_model, include_broken=True):
        m = a.metadata.get("metrics") or {}
        m = m if isinstance(m, dict) else {}
        created = a.metadata.get("created") or _mtime(a.path)
        try:
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(created)))
        except (TypeError, ValueError):
            created = str(created)
        rows.append({"name": a.name, "status": f"broken: {a.broken}" if a.broken else "ok",
                     "base model": a.base_model, "task": a.task, "steps": m.get("steps"),
                     "val loss": m.get("val_loss"), "data sha256": str(a.metadata.get("data_sha256") or "")[:12],
                     "created": created, "path": str(a.path)})
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


def _write_metadata(folder: Path, metadata: dict) -> None:
    """Our metadata, written whole or not at all; the name is the folder's, so none is stored."""
    trash.write_json_atomic(folder / METADATA_FILE, {k: v for k, v in metadata.items() if k != "name"})


def register(staging: Path, name: str, metadata: dict) -> AdapterInfo:
    """Write our metadata, check the folder is complete, then rename it into the registry in one step."""
    target = workspace.safe_child(adapters_dir(), name, field="adapter name")
    if target.exists():
        raise AdapterError(f"an adapter named {name!r} already exists; pick another name", field="adapter name")
    _write_metadata(staging, metadata)
    read_adapter(staging)  # refuses an incomplete folder before it becomes visible
    staging.rename(target)
    return read_adapter(target)


ADAPTER_FILES = frozenset({"adapter_config.json", "adapter_model.safetensors", METADATA_FILE, "README.md",
                           "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                           "vocab.json", "merges.txt", "chat_template.jinja"})
MAX_ADAPTER_BYTES = 4 * 2**30


def adapter_files(folder: Path) -> list[Path]:
    """The files of an adapter folder that may be copied or exported: an allow-list of names, regular files only.
    A symlink or special file among them is refused (copying it would copy what it points to: a key file, a
    whole tree); other files are left behind; the total is capped."""
    files = []
    for name in sorted(ADAPTER_FILES):
        path = folder / name
        if not os.path.lexists(path):
            continue
        if path.is_symlink() or not path.is_file():
            raise AdapterError(f"{name} is a link or not a regular file; refusing to copy it", path=str(path))
        files.append(path)
    total = sum(p.stat().st_size for p in files)
    if total > MAX_ADAPTER_BYTES:
        raise AdapterError(f"the adapter files add up to {total / 2**30:.1f} GiB, over the "
                           f"{MAX_ADAPTER_BYTES / 2**30:.0f} GiB limit", path=str(folder))
    return files


def import_adapter(folder: Path | str, name: str) -> AdapterInfo:
    """Copy any PEFT adapter folder into the registry under `name` (checked complete before it appears)."""
    source = read_adapter(folder)
    workspace.safe_child(adapters_dir(), name, field="adapter name")
    if (adapters_dir() / name).exists():
        raise AdapterError(f"an adapter named {name!r} already exists; pick another name", field="adapter name")
    files = adapter_files(source.path)
    staging = staging_dir(name)
    staging.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copyfile(path, staging / path.name, follow_symlinks=False)
    metadata = {**source.metadata, "base_model": source.base_model, "task": source.task,
                "imported_from": str(source.path), "created": time.time()}
    (staging / METADATA_FILE).unlink(missing_ok=True)
    return register(staging, name, metadata)


def rename(name: str, new_name: str) -> AdapterInfo:
    """Rename by renaming the folder (the one source of the name); the metadata notes the old name, written to a
    temp file first, so a kill at any point leaves one complete, listable adapter."""
    source = workspace.safe_child(adapters_dir(), name, field="adapter name")
    target = workspace.safe_child(adapters_dir(), new_name, field="new name")
    if target.exists():
        raise AdapterError(f"an adapter named {new_name!r} already exists", field="new name")
    info = read_adapter(source)
    _write_metadata(source, {**info.metadata, "renamed_from": name})
    source.rename(target)
    return read_adapter(target)


def delete(name: str) -> trash.TrashItem:
    """Move an adapter folder (broken ones too) to the workspace trash, from where `trash.restore` brings it back."""
    path = workspace.safe_child(adapters_dir(), name, field="adapter name")
    if not path.is_dir():
        raise AdapterError(f"no adapter named {name!r}", field="adapter name")
    return trash.move_to_trash("adapter", name, folder=path)


def export_zip(name: str, destination: Path) -> Path:
    """A zip of one adapter folder, to move it to another machine."""
    path = workspace.safe_child(adapters_dir(), name, field="adapter name")
    read_adapter(path)
    archive = Path(destination) / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:  # the allow-list only, never a link's target
        for file in adapter_files(path):
            z.write(file, f"{name}/{file.name}")
    return archive


def export_zip_bytes(name: str) -> bytes:
    """The zip of one adapter as bytes, built in one temp folder that is removed before returning."""
    with tempfile.TemporaryDirectory(prefix="workbench-export-") as folder:
        return export_zip(name, Path(folder)).read_bytes()


def _adapter_key(info: AdapterInfo) -> str:
    """The PEFT adapter name for a folder: changes when the files change, so a rewrite is reloaded."""
    stamp = int((info.path / "adapter_model.safetensors").stat().st_mtime_ns)
    safe = "".join(c if c.isalnum() else "_" for c in info.name)
    return f"{safe}_{stamp}"


def _mismatch(info: AdapterInfo, loaded: LoadedModel, err: Exception) -> AdapterError:
    first = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
    return AdapterError(f"{info.name} does not fit {loaded.info.name} (trained on {info.base_model}): {first}; "
                        "the model is unchanged", path=str(info.path))


def _remove_lora_layers(model) -> None:
    """Undo a failed first injection: put every PEFT-wrapped layer's base layer back, so the model is as loaded."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer) and name:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, module.get_base_layer())
    if hasattr(model, "peft_config"):
        del model.peft_config


def _forget_adapter(peft_model, key: str) -> None:
    """Undo a failed `load_adapter`: drop what it injected; the adapters loaded before stay as they were."""
    if key in peft_model.peft_config:
        peft_model.delete_adapter(key)


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
            try:
                loaded.peft = peft_model = PeftModel.from_pretrained(loaded.model, info.path, adapter_name=key)
            except Exception as err:
                _remove_lora_layers(loaded.model)
                raise _mismatch(info, loaded, err) from err
        elif key not in peft_model.peft_config:
            try:
                peft_model.load_adapter(info.path, adapter_name=key)
            except Exception as err:
                _forget_adapter(peft_model, key)
                raise _mismatch(info, loaded, err) from err
        peft_model.set_adapter(key)  # exactly one active adapter: PEFT would silently keep the first
        peft_model.base_model.enable_adapter_layers()
        peft_model.eval()
        try:
            yield info.name
        finally:
            peft_model.base_model.disable_adapter_layers()
