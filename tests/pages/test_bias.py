"""Bias page under AppTest: a probe runs from its button, its result is cached for the next visit, and an
encoder without an LM head gets a message instead of a crash."""


def test_crows_pairs_runs_from_its_button_and_is_cached_on_reopen(workspace_home, open_page):
    at = open_page("bias")
    assert any("Active adapter: **none — base model**" in i.value for i in at.info)
    assert any("CC BY-SA 4.0" in c.value for c in at.caption) and any("MIT" in c.value for c in at.caption)
    at.number_input(key="bias_n_pairs").set_value(4).run()
    at.button(key="bias_run_crows-pairs").click().run()
    assert not at.exception
    assert any(m.label == "Prefers the stereotyping sentence" for m in at.metric)
    [made] = [c.value for c in at.caption if c.value.startswith("Computed in")]
    assert "read back" not in made  # computed just now: not called cached (the page reruns from the store)
    at.switch_page("pages/compare.py").run()  # leave the page, come back: the result comes from the store, no click
    reopened = at.switch_page("pages/bias.py").run()
    assert not reopened.exception
    assert any(m.label == "Prefers the stereotyping sentence" for m in reopened.metric)
    assert any(c.value == made for c in reopened.caption)
    another = open_page("bias")  # another session (a new tab, a restart) reads it back from the workspace
    another.number_input(key="bias_n_pairs").set_value(4).run()
    assert any(m.label == "Prefers the stereotyping sentence" for m in another.metric)
    assert any("(read back from the workspace cache)" in c.value for c in another.caption)


def test_encoder_model_gets_a_warning_not_a_traceback(workspace_home, open_page):
    at = open_page("bias", model="minilm-l6")
    assert any("needs a causal or masked model" in w.value for w in at.warning)
