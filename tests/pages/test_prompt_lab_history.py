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


def _warnings(at) -> list[str]:
    return [w.value for w in at.warning]


def test_history_open_brings_a_generation_back_with_its_inputs_and_a_change_makes_it_stale(workspace_home,
                                                                                          open_page):
    at = open_page("prompt_lab")
    at.text_area(key="pl_prompt").set_value("Name a colour.")
    at.number_input(key="pl_max").set_value(4)
    at.button(key="pl_generate").click().run()
    first = at.session_state["pl_last"]
    assert not any(w.startswith("Stale") for w in _warnings(at))
    at.number_input(key="pl_max").set_value(5).run()
    assert "Stale: changed since this output was made: sampling settings. Run again to update it." in _warnings(at)
    at.text_area(key="pl_prompt").set_value("Name a tree.")
    at.button(key="pl_generate").click().run()
    assert not any(w.startswith("Stale") for w in _warnings(at))

    at.multiselect(key="pl_h_pick").select(first["run"]).run()
    at.button(key="pl_h_open").click().run()
    assert not at.exception, at.exception
    assert at.text_area(key="pl_prompt").value == "Name a colour." and at.number_input(key="pl_max").value == 4
    opened = at.session_state["pl_last"]
    assert opened["run"] == first["run"] and opened["gen"].token_ids == first["gen"].token_ids
    assert opened["gen"].prompt_ids == first["gen"].prompt_ids
    assert any(m.value == first["gen"].text for m in at.markdown)
    assert any(f"Opened run {first['run']}" in s.value for s in at.success)
    assert not any(w.startswith("Stale") for w in _warnings(at))


def test_history_open_brings_a_grid_back_and_a_changed_template_makes_it_stale(workspace_home, open_page):
    at = open_page("prompt_lab")
    at.text_area(key="pl_template").set_value("In one word, {thing}?")
    at.number_input(key="pl_batch").set_value(4)
    at.button(key="pl_run_grid").click().run()
    assert not at.exception, at.exception
    run_id, result, spec = at.session_state["pl_grid"]
    assert [c.variables["thing"] for c in result.cells] == ["a hammer", "a compass", "yeast"]
    at.text_area(key="pl_template").set_value("In two words, {thing}?").run()
    assert any(w.startswith("Stale: changed since this output was made: template.") for w in _warnings(at))
    at.number_input(key="pl_batch").set_value(2).run()
    at.multiselect(key="pl_h_pick").select(run_id).run()
    at.button(key="pl_h_open").click().run()
    assert not at.exception, at.exception
    assert at.text_area(key="pl_template").value == "In one word, {thing}?"
    assert at.number_input(key="pl_batch").value == 4
    assert at.session_state["pl_grid"][0] == run_id
    assert not any(w.startswith("Stale") for w in _warnings(at))
