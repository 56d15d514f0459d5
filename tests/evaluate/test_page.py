"""Evaluate page under AppTest: the metric picker, the score table and the example table come from the metric
registry (a toy metric registered in the test shows up and is scored), and the model picker uses the shared
no-adapter label."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from workbench.evaluate import metrics as m
from workbench.models import adapters

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _evaluate_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception
    return at


def test_a_registered_metric_is_offered_scored_and_shown(workspace_home):
    @m.register_metric(name="answer_chars", higher_is_better=False, needs_reference=True, label="answer length")
    def answer_chars(inputs: m.MetricInputs) -> dict[str, m.Scores]:
        return {"answer_chars": m.example_means([len(o) for o in inputs.outputs])}

    assert m.METRICS["answer_chars"].compute is answer_chars
    try:
        at = _evaluate_page()
        assert at.multiselect(key="ev_models").value == [adapters.BASE_CHOICE]
        assert at.multiselect(key="ev_metrics").options == list(m.METRICS)
        at.selectbox(key="ev_set").select("eval_facts.jsonl")
        at.multiselect(key="ev_metrics").set_value(["answer_chars", "exact_match"])
        at.number_input(key="ev_limit").set_value(2)
        at.number_input(key="ev_max_new").set_value(3)
        at.number_input(key="ev_resamples").set_value(100)
        at.button(key="ev_run").click().run()
        assert not at.exception and not at.error
        assert any("eval_facts: 2 examples" in s.value for s in at.subheader)
        assert set(at.dataframe[0].value.columns) == {"answer_chars", "exact_match"}  # scores, one row per model
        assert at.selectbox(key="ev_example_key").options == ["exact_match", "answer_chars"]  # registry order
        at.selectbox(key="ev_example_key").select("answer_chars").run()
        examples = at.dataframe[1].value
        assert examples["answer_chars: base"].tolist() == [len(o) for o in examples["output: base"]]
    finally:
        m.unregister_metric("answer_chars")
