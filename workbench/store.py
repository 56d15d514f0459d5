"""The workspace's SQLite store: one file, schema migrations per component, safe for several processes."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench import workspace

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


class Store:
    """A connection factory over `store.sqlite`; every `connect()` is a short transaction."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else workspace.home() / "store.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.migrate()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and rolls back on error; WAL so readers never block."""
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def migrate(self) -> dict[str, int]:
        """Apply every migration not yet applied, per component, each in its own transaction."""
        with self.connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version "
                         "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
            for old, new in RENAMED_COMPONENTS.items():
                conn.execute("UPDATE OR IGNORE schema_version SET component = ? WHERE component = ?", (new, old))
        versions = {}
        for component, steps in MIGRATIONS.items():
            with self.connect() as conn:
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
