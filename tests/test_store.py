"""The workspace store migrates per component, survives reopening, and names stay inside the workspace."""

import os
import shutil
from pathlib import Path

import pytest

from workbench import store as store_module
from workbench import workspace
from workbench.errors import UnsafePath
from workbench.store import Store


def test_store_applies_migrations_once_and_survives_reopen(workspace_home):
    s = Store()
    assert s.schema_versions()["core"] == len(store_module.MIGRATIONS["core"])
    s.set_setting("theme", {"dark": True})
    s.log_event("opened", page="home")
    reopened = Store()
    assert reopened.get_setting("theme") == {"dark": True}
    assert reopened.table_counts()["events"] == 1
    assert (workspace_home / "store.sqlite").exists()


def test_new_migration_is_applied_to_an_existing_store(workspace_home, monkeypatch):
    Store()
    migrations = dict(store_module.MIGRATIONS, extra=["CREATE TABLE extra (id INTEGER PRIMARY KEY); -- note"])
    monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
    s = Store()
    assert s.schema_versions()["extra"] == 1
    assert "extra" in s.table_counts()


def test_failed_transaction_rolls_back(workspace_home):
    s = Store()
    with pytest.raises(RuntimeError):
        with s.connect() as conn:
            conn.execute("INSERT INTO settings(key, value) VALUES ('a', '1')")
            raise RuntimeError("boom")
    assert s.get_setting("a") is None


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "..", "x" * 200])
def test_safe_child_refuses_names_that_escape_the_workspace(workspace_home, name):
    with pytest.raises(UnsafePath):
        workspace.safe_child(workspace.home(), name)


def test_safe_child_accepts_plain_names(workspace_home):
    assert workspace.safe_child(workspace.home(), "my-adapter_v1.2").parent == workspace.home()


def test_store_made_before_the_migration_folders_were_renamed_keeps_its_versions(workspace_home):
    import sqlite3

    older = workspace_home.parent / "older.sqlite"
    Store(older)
    conn = sqlite3.connect(older)  # as a workspace from before the rename recorded them
    with conn:
        for old, new in store_module.RENAMED_COMPONENTS.items():
            conn.execute("UPDATE schema_version SET component = ? WHERE component = ?", (old, new))
    conn.close()  # the last connection folds the WAL into the file
    workspace_home.mkdir(parents=True)
    shutil.copy(older, workspace_home / "store.sqlite")  # that workspace, opened by this version
    versions = Store().schema_versions()  # would fail on CREATE TABLE if the migrations ran again
    assert set(store_module.RENAMED_COMPONENTS).isdisjoint(versions)
    assert all(versions[new] == len(store_module.MIGRATIONS[new]) for new in store_module.RENAMED_COMPONENTS.values())


@pytest.mark.parametrize("filename", ["../../etc/passwd", "a b?.jsonl", ".hidden", "", "x" * 300 + ".csv"])
def test_save_upload_keeps_hostile_names_inside_the_folder(workspace_home, filename):
    path = workspace.save_upload("uploads", filename, b"{}\n")
    assert path.parent == (workspace_home / "uploads").resolve()
    assert path.read_bytes() == b"{}\n"


def test_save_upload_never_rewrites_an_earlier_upload_of_the_same_name(workspace_home):
    first = workspace.save_upload("uploads", "data.jsonl", b"one\n")
    second = workspace.save_upload("uploads", "data.jsonl", b"two\n")
    assert first != second and first.read_bytes() == b"one\n" and second.read_bytes() == b"two\n"
    assert workspace.save_upload("uploads", "data.jsonl", b"one\n") == first


def test_locked_store_raises_store_busy_after_retries_not_a_hidden_rollback_error(workspace_home):
    import sqlite3

    Store()
    holder = sqlite3.connect(workspace_home / "store.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock throughout
    try:
        with pytest.raises(store_module.StoreBusy, match="busy") as caught:
            Store(timeout=0.05).set_setting("a", 1)
        assert str(workspace_home / "store.sqlite") in str(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    Store().set_setting("a", 1)  # free again once the other writer is done
    assert Store().get_setting("a") == 1


def test_migrations_run_once_per_process_per_store(workspace_home, monkeypatch):
    Store()

    def fail(self):
        raise AssertionError("migrations ran again")

    monkeypatch.setattr(Store, "migrate", fail)
    for _ in range(3):  # a training step, a 2-second poll: no migration work
        Store().set_setting("step", 1)


def test_corrupt_store_is_moved_aside_and_a_fresh_one_created(workspace_home):
    workspace_home.mkdir(parents=True)
    garbage = b"this is not an SQLite database\n" * 200
    (workspace_home / "store.sqlite").write_bytes(garbage)
    s = Store()
    assert s.moved_aside is not None and s.moved_aside.name.startswith("store.corrupt-")
    assert s.moved_aside.read_bytes() == garbage  # kept for recovery
    s.set_setting("theme", "dark")
    assert Store().get_setting("theme") == "dark"
    kinds = [k for k in s.table_counts()]
    assert "events" in kinds and s.table_counts()["events"] == 1  # the move is recorded in the fresh store


def test_store_written_by_a_newer_version_is_refused_with_its_version(workspace_home):
    import sqlite3

    workspace_home.mkdir(parents=True)
    with sqlite3.connect(workspace_home / "store.sqlite") as conn:
        conn.execute("CREATE TABLE schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES ('core', 99)")
    with pytest.raises(store_module.StoreTooNew, match=r"`core` is at schema version 99.*knows up to "
                                                       + str(len(store_module.MIGRATIONS["core"]))):
        Store()


def test_workspace_summary_skips_a_file_rotated_away_while_it_is_added_up(workspace_home, monkeypatch):
    run = workspace_home / "finetune" / "runs" / "job-1"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("{}\n")
    gone = run / "checkpoint-2" / "adapter_model.safetensors"  # listed, then deleted by the job's rotation
    real_rglob = Path.rglob
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: [*real_rglob(self, pattern), gone])
    monkeypatch.setattr(Path, "is_file", lambda self: self == gone or os.path.isfile(self))
    entries = {e.name: e for e in workspace.summary()}
    assert entries["finetune/"].files == 1 and entries["finetune/"].bytes == 3


def test_a_page_shows_an_error_sentence_first_and_where_in_words():
    from workbench.errors import InvalidSetting

    assert InvalidSetting("the prompt is empty", field="prompt").for_people() == "The prompt is empty (setting prompt)"
    err = InvalidSetting("must be a string", path="f.jsonl", line=3, field="max_new_tokens")
    assert str(err) == "f.jsonl:3, field `max_new_tokens`: must be a string"  # the CLI's terse form stays
    assert err.for_people() == "Must be a string (file f.jsonl, line 3, field max new tokens)"
