"""The workspace trash: a deleted adapter, fine-tune job or history record waits in `<workspace>/trash/` until it is
restored or emptied, so no click loses work."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from workbench import workspace
from workbench.errors import WorkbenchError
from workbench.store import Store

MANIFEST = "manifest.json"  # what, when, from where (and the store row, when there is one)
PAYLOAD = "payload"         # the folder that was deleted, moved here as it was
KEEP_DAYS = 30              # `empty()` at startup removes items older than this
ROW_TABLES = {"experiments": "id", "jobs": "id"}  # store tables whose rows can wait here: their primary key
LEFTOVERS = ("adapters/.staging-*", "adapters/.deleting-*", "runs/*/checkpoints/.tmp-step-*")  # half-done writes
LEFTOVER_AGE_S = 3600  # younger ones may belong to a write in progress


class TrashError(WorkbenchError):
    """An item cannot be moved to the trash or restored (its name is taken again, its files are gone)."""


@dataclass(frozen=True)
class TrashItem:
    """One deleted thing: a folder, a store row, or both (a fine-tune job is its run folder plus its row)."""

    id: str                # the item's folder under trash/
    kind: str              # adapter | job | history | unknown (an unreadable manifest)
    name: str              # what the user called it
    origin: str            # the folder it was moved from ('' when only a row)
    deleted: float         # unix seconds
    table: str = ""        # the store table of its row ('' when none)
    row: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


def trash_dir() -> Path:
    return workspace.subdir("trash")


def write_json_atomic(path: Path, value) -> None:
    """Write JSON to a temp file beside `path`, then rename it over: a reader sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _key_column(table: str) -> str:
    if table not in ROW_TABLES:
        raise TrashError(f"rows of {table!r} cannot go to the trash", field="table")
    return ROW_TABLES[table]


def _fetch_row(table: str, key, store: Store | None = None) -> dict | None:
    with (store or Store()).connect() as conn:
        row = conn.execute(f"SELECT * FROM {table} WHERE {_key_column(table)} = ?", (key,)).fetchone()
    return dict(row) if row else None


def move_to_trash(kind: str, name: str, *, folder: Path | None = None, table: str = "", key=None,
                  store: Store | None = None) -> TrashItem:
    """Move a folder and/or a store row into a new trash item; on any failure everything stays where it was."""
    row = _fetch_row(table, key, store) if table else {}
    if table and row is None:
        raise TrashError(f"there is no {kind} {name} to delete", field=kind)
    if folder is not None and not folder.is_dir():
        raise TrashError(f"there is no {kind} folder {folder}", path=str(folder))
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:60]
    item = TrashItem(id=f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{safe}-{uuid.uuid4().hex[:6]}", kind=kind,
                     name=name, origin=str(folder.resolve()) if folder else "", deleted=time.time(), table=table,
                     row=row)
    target = trash_dir() / item.id
    target.mkdir()
    try:
        write_json_atomic(target / MANIFEST, vars(item))
        if folder is not None:
            folder.rename(target / PAYLOAD)  # one step: the folder is either here or there
        if table:
            with (store or Store()).connect() as conn:
                conn.execute(f"DELETE FROM {table} WHERE {_key_column(table)} = ?", (key,))
    except BaseException:
        if (target / PAYLOAD).exists():
            (target / PAYLOAD).rename(folder)
        shutil.rmtree(target, ignore_errors=True)
        raise
    return item


def _read_item(folder: Path) -> TrashItem:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return TrashItem(**{**manifest, "id": folder.name})
    except (OSError, ValueError, TypeError):  # a manifest cut short or edited: still listed, so it can be emptied
        return TrashItem(id=folder.name, kind="unknown", name=folder.name, origin="", deleted=folder.stat().st_mtime)


def list_items() -> list[TrashItem]:
    """Everything in the trash, newest first."""
    items = [_read_item(p) for p in trash_dir().iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(items, key=lambda i: i.deleted, reverse=True)


def get_item(item_id: str) -> TrashItem:
    folder = workspace.safe_child(trash_dir(), item_id, field="trash item")
    if not folder.is_dir():
        raise TrashError(f"nothing named {item_id!r} in the trash (emptied or restored already)", field="trash item")
    return _read_item(folder)


def _insert_row(table: str, row: dict) -> None:
    with Store().connect() as conn:
        columns = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
        values = {k: v for k, v in row.items() if k in columns}
        conn.execute(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                     tuple(values.values()))


def _check_restorable(item: TrashItem, folder: Path) -> None:
    if item.kind == "unknown":
        raise TrashError(f"{item.id} has no readable manifest: it can only be emptied", field="trash item")
    if item.origin and not Path(item.origin).resolve().is_relative_to(workspace.home().resolve()):
        raise TrashError(f"{item.label} came from {item.origin}, outside the workspace: restore it by hand from "
                         f"{folder / PAYLOAD}", path=item.origin)
    if item.origin and Path(item.origin).exists():
        raise TrashError(f"cannot restore {item.label}: {item.origin} exists again; rename or delete that one "
                         "first", path=item.origin)
    if item.origin and not (folder / PAYLOAD).is_dir():
        raise TrashError(f"the files of {item.label} are missing from the trash", path=str(folder))
    if item.table and _fetch_row(item.table, item.row[_key_column(item.table)]) is not None:
        raise TrashError(f"cannot restore {item.label}: its id is taken in the store", field=item.kind)


def restore(item: TrashItem | str) -> TrashItem:
    """Put an item back where it came from; refuses, saying why, when that place is taken."""
    item = get_item(item if isinstance(item, str) else item.id)
    folder = trash_dir() / item.id
    _check_restorable(item, folder)
    if item.origin:
        Path(item.origin).parent.mkdir(parents=True, exist_ok=True)
        (folder / PAYLOAD).rename(item.origin)
    try:
        if item.table:
            _insert_row(item.table, item.row)
    except BaseException:
        if item.origin:
            Path(item.origin).rename(folder / PAYLOAD)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return item


def empty(older_than_days: float = KEEP_DAYS) -> list[TrashItem]:
    """Remove trash items deleted more than `older_than_days` ago (0: all of them); returns what went."""
    cutoff = time.time() - older_than_days * 86400
    gone = [i for i in list_items() if i.deleted <= cutoff]
    for item in gone:
        shutil.rmtree(trash_dir() / item.id, ignore_errors=True)
    return gone


def remove_leftovers(max_age_s: float = LEFTOVER_AGE_S) -> list[Path]:
    """Remove half-written folders (staging, deleting, temp checkpoints) older than `max_age_s`: crash debris."""
    cutoff = time.time() - max_age_s
    removed = []
    for pattern in LEFTOVERS:
        for path in workspace.home().glob(pattern):
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                    removed.append(path)
            except OSError:
                continue  # gone meanwhile, or not ours to remove
    return removed


def startup_cleanup() -> tuple[list[Path], list[TrashItem]]:
    """Once per app start: crash debris older than an hour, trash older than `KEEP_DAYS`."""
    return remove_leftovers(), empty(KEEP_DAYS)


def labels(items: list[TrashItem]) -> str:
    """The items as one phrase for a notice ("adapter a, job j")."""
    return ", ".join(i.label for i in items)


def table_rows(items: list[TrashItem]) -> list[dict]:
    """The Trash list's rows: what, its name, when it was deleted (local time), where it came from."""
    return [{"what": i.kind, "name": i.name, "deleted": time.strftime("%Y-%m-%d %H:%M", time.localtime(i.deleted)),
             "from": i.origin or f"store table {i.table}"} for i in items]
