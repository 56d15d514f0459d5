"""Prompt lab History under AppTest: Delete asks first, naming the runs; confirmed, they go to the trash with an
Undo that brings them back."""

import time

from workbench import trash
from workbench.prompt_lab import history
from workbench.store import Store


def _stored_run(prompt: str) -> int:
    values = {"created": time.time(), "kind": "generate", "model": "smollm2-135m-instruct", "adapters": "[null]",
              "prompt": prompt, "spec": "{}", "seed": 0, "environment": "{}",
              "outputs": '[{"text": "out"}]', "prompt_tokens": 1, "new_tokens": 1, "seconds": 0.1}
    with Store().connect() as conn:
        return conn.execute(f"INSERT INTO experiments ({', '.join(values)}) VALUES "
                            f"({', '.join('?' * len(values))})", tuple(values.values())).lastrowid


def test_history_delete_confirms_naming_the_run_then_trashes_it_and_undo_restores(workspace_home, open_page):
    kept, doomed = _stored_run("keep this"), _stored_run("delete this")
    at = open_page("prompt_lab")
    at.multiselect(key="pl_h_pick").select(doomed).run()
    at.button(key="pl_h_delete").click().run()
    assert not at.exception, at.exception
    [question] = [w.value for w in at.warning if w.value.startswith("Delete history")]
    assert f"run {doomed}" in question and f"run {kept}" not in question
    assert len(history.list_runs()) == 2  # nothing gone before the confirmation

    at.button(key="pl_h_yes").click().run()
    assert not at.exception, at.exception
    assert [r.id for r in history.list_runs()] == [kept]
    assert [i.label for i in trash.list_items()] == [f"history run {doomed}"]
    assert any(f"Moved history run {doomed} to the trash" in s.value for s in at.success)

    at.button(key="pl_h_undo").click().run()
    assert sorted(r.id for r in history.list_runs()) == [kept, doomed]
    assert trash.list_items() == []
