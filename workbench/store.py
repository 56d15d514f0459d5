"""The workspace's SQLite store: one file, schema migrations per component, safe for several processes."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench import workspace
from workbench.errors import WorkbenchError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def load_migrations() -> dict[str, list[str]]:
    """`migrations/<component>/<NNN>_<what>.sql`, in order per component. A landed file is never edited,
    only followed by a new one; a capability adds its own folder, never an edit here."""
    found: dict[str, list[str]] = {}
    for folder in sorted(p for p in MIGRATIONS_DIR.iterdir() if p.is_dir()):
        found[folder.name] = [f.read_text() for f in sorted(folder.glob("*.sql"))]
    return found


MIGRATIONS: dict[str, list[str]] = load_migrations()
# Migration folders renamed when each took its capability's name; a workspace made before keeps its versions.
RENAMED_COMPONENTS = {"evaluations": "evaluate", "experiments": "prompt_lab", "jobs": "finetune"}


class StoreBusy(WorkbenchError):
    """Another process held the workspace store's write lock for longer than we waited."""


class StoreTooNew(WorkbenchError):
    """The workspace store was written by a newer LLM Workbench than this one."""


class StoreCorrupt(WorkbenchError):
    """The workspace store's file is damaged; the next `Store()` moves it aside and starts a fresh one."""


BEGIN_ATTEMPTS = 3  # tries of BEGIN IMMEDIATE, each waiting up to the store's timeout
# Stores this process has checked and migrated: (path, inode, migrations known). Module-level on purpose:
# migrations run once per process and store file, not on every `Store()` (a training step, a 2-second poll).
_MIGRATED: set[tuple[str, int, tuple]] = set()
log = logging.getLogger(__name__)


def _is_corruption(err: BaseException) -> bool:
    """sqlite3 raises plain DatabaseError for a damaged file ("file is not a database", "malformed"); its
    subclasses (OperationalError: locked, IntegrityError, ...) are not corruption."""
    return type(err) is sqlite3.DatabaseError


class Store:
    """A connection factory over `store.sqlite`; every `connect()` is a short transaction."""

    def __init__(self, path: Path | None = None, *, timeout: float = 10.0) -> None:
        self.path = Path(path) if path else workspace.home() / "store.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.moved_aside: Path | None = None  # where a corrupt store went, when this `Store()` moved one
        if self._migration_key() not in _MIGRATED:
            self._open_checked()

    def _migration_key(self) -> tuple[str, int, tuple]:
        inode = self.path.stat().st_ino if self.path.exists() else -1
        return (str(self.path.resolve()), inode, tuple(sorted((c, len(s)) for c, s in MIGRATIONS.items())))

    def _open_checked(self) -> None:
        """Check the file, refuse a newer schema, migrate; a damaged file is moved aside for a fresh one."""
        try:
            self._check_integrity()
            self.migrate()
        except sqlite3.DatabaseError as err:
            if not _is_corruption(err):
                raise
            self.moved_aside = self._move_aside(str(err))
            self.migrate()
            self.log_event("store_moved_aside", moved_to=str(self.moved_aside), reason=str(err))
        _MIGRATED.add(self._migration_key())

    def _check_integrity(self) -> None:
        with self.connect(translate=False) as conn:
            problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(problems[:3]))

    def _move_aside(self, reason: str) -> Path:
        """Rename the damaged file (and its WAL/SHM companions) to store.corrupt-<time>.sqlite, kept for recovery."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.stem}.corrupt-{stamp}{self.path.suffix}")
        n = 1
        while target.exists():
            target, n = self.path.with_name(f"{self.path.stem}.corrupt-{stamp}-{n}{self.path.suffix}"), n + 1
        for suffix in ("", "-wal", "-shm"):
            companion = Path(str(self.path) + suffix)
            if companion.exists():
                companion.rename(str(target) + suffix)
        log.warning("the workspace store %s was damaged (%s); moved it to %s and started a fresh one",
                    self.path, reason, target)
        return target

    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, retried; a lock held all along becomes StoreBusy, not a bare 'database is locked'."""
        for attempt in range(1, BEGIN_ATTEMPTS + 1):
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                log.info("workspace store busy (attempt %d of %d), retrying", attempt, BEGIN_ATTEMPTS)
        raise StoreBusy(f"the workspace store is busy: another process (a fine-tune, another tab, the CLI) held its "
                        f"write lock for {BEGIN_ATTEMPTS} x {self.timeout:g} s. Wait for it to finish and try "
                        "again; if nothing else is running, restart the app", path=str(self.path))

    @contextmanager
    def connect(self, *, translate: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and rolls back on error; WAL so readers never block.
        A damaged file raises StoreCorrupt (unless `translate` is off) and is moved aside by the next `Store()`."""
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._begin(conn)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as err:
            if not (translate and _is_corruption(err)):
                raise
            _MIGRATED.discard(self._migration_key())
            raise StoreCorrupt(f"the workspace store is damaged ({err}); reload the page: it will be moved aside "
                               "(kept for recovery) and a fresh store started", path=str(self.path)) from err
        finally:
            conn.close()

    def migrate(self) -> dict[str, int]:
        """Apply every migration not yet applied, per component, each in its own transaction; a store written
        by a newer version (a schema version above what this code knows) is refused."""
        with self.connect(translate=False) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version "
                         "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
            for old, new in RENAMED_COMPONENTS.items():
                conn.execute("UPDATE OR IGNORE schema_version SET component = ? WHERE component = ?", (new, old))
            recorded = {r["component"]: r["version"] for r in conn.execute("SELECT * FROM schema_version")}
        self._refuse_newer(recorded)
        versions = {}
        for component, steps in MIGRATIONS.items():
            with self.connect(translate=False) as conn:
                row = conn.execute("SELECT version FROM schema_version WHERE component = ?",
                                   (component,)).fetchone()
                current = row["version"] if row else 0
                for version, sql in enumerate(steps[current:], start=current + 1):
                    for statement in _statements(sql):
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_version(component, version) VALUES (?, ?) "
                                 "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                                 (component, version))
                versions[component] = len(steps)
        return versions

    def _refuse_newer(self, recorded: dict[str, int]) -> None:
        for component, steps in MIGRATIONS.items():
            if recorded.get(component, 0) > len(steps):
                raise StoreTooNew(f"written by a newer LLM Workbench: `{component}` is at schema version "
                                  f"{recorded[component]}, this version knows up to {len(steps)}. Upgrade the "
                                  "workbench, or set WORKBENCH_HOME to another folder", path=str(self.path),
                                  field="schema_version")

    def schema_versions(self) -> dict[str, int]:
        with self.connect() as conn:
            return {r["component"]: r["version"] for r in conn.execute("SELECT * FROM schema_version")}

    def table_counts(self) -> dict[str, int]:
        """Rows per table, for the home page's workspace summary."""
        with self.connect() as conn:
            names = [r["name"] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}

    def get_setting(self, key: str, default=None):
        with self.connect() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def set_setting(self, key: str, value) -> None:
        with self.connect() as conn:
            conn.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    def log_event(self, kind: str, **detail) -> None:
        with self.connect() as conn:
            conn.execute("INSERT INTO events(created, kind, detail) VALUES (?, ?, ?)",
                         (time.time(), kind, json.dumps(detail, default=str)))


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (sqlite3 runs one per execute inside our transaction)."""
    without_comments = re.sub(r"--[^\n]*", "", sql)
    return [s.strip() for s in without_comments.split(";") if s.strip()]
