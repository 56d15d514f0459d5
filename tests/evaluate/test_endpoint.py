"""Evaluate against a real OpenAI-compatible server (`transformers serve` of the embedded SmolLM2): the endpoint's
greedy answers score exactly as the same model's local greedy answers, log-prob metrics are skipped with a
warning, the run is stored with the endpoint, and the CLI takes --endpoint."""

import json
from dataclasses import replace

import pytest

from workbench.errors import InvalidSetting
from workbench.evaluate import history
from workbench.evaluate.run import EvalOptions, evaluate_models
from workbench.evaluate.sets import read_eval_set
from workbench.models.endpoint import EndpointError, EndpointSpec
from workbench.workspace import data_dir

METRICS = ["perplexity", "exact_match", "chrf", "bleu", "rouge"]


@pytest.fixture(scope="module")
def facts():
    dataset = read_eval_set(data_dir() / "eval_facts.jsonl")
    return replace(dataset, examples=dataset.examples[:4])


def test_endpoint_scores_equal_local_greedy_scores_and_skip_perplexity(smollm2, openai_server, facts,
                                                                      workspace_home):
    base_url, model = openai_server
    served = EndpointSpec(base_url=base_url, model=model, name="served", concurrency=2)
    options = EvalOptions(chat=True, resamples=100, max_new_tokens=8)
    report = evaluate_models(smollm2, [None, served], facts, METRICS, options)
    local, remote = report.results
    assert remote.label == "served" and remote.endpoint["base_url"] == base_url
    assert list(remote.per_example["output"]) == list(local.per_example["output"])  # same model, both greedy
    assert "perplexity" in local.scores and "perplexity" not in remote.scores
    for key, value in remote.scores.items():
        assert value == pytest.approx(local.scores[key]), key
    assert any("perplexity skipped for served" in w for w in remote.warnings)
    assert set(report.comparisons["key"]) == set(remote.scores)  # paired only where both have the score
    assert (report.comparisons["difference"] == 0).all()

    run_id = history.save_run(report)
    examples = history.run_examples(run_id)
    assert list(examples["served"]["output"]) == list(remote.per_example["output"])
    from workbench.store import Store

    with Store().connect() as conn:
        stored = conn.execute("SELECT DISTINCT endpoint FROM evaluation_scores WHERE run_id=? AND model='served'",
                              (run_id,)).fetchone()[0]
    assert json.loads(stored) == served.to_dict()  # the spec: URL, model, the key's variable name (none here)


def test_an_endpoint_with_only_log_prob_metrics_and_a_dead_endpoint_are_clear_errors(smollm2, facts):
    from tests.conftest import free_port

    with pytest.raises(InvalidSetting, match="only on reference metrics"):
        evaluate_models(smollm2, [EndpointSpec(base_url="http://127.0.0.1:9/v1", model="m")], facts,
                        ["perplexity"])
    dead = EndpointSpec(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", max_retries=0, timeout=5)
    with pytest.raises(EndpointError, match="cannot connect"):
        evaluate_models(smollm2, [dead], facts, ["exact_match"], EvalOptions(resamples=100))


def test_cli_scores_an_endpoint_beside_the_base(openai_server, facts, capsys):
    from workbench.cli import main

    base_url, model = openai_server
    code = main(["eval", "smollm2-135m-instruct", str(data_dir() / "eval_facts.jsonl"), "--limit", "2",
                 "--metrics", "exact_match", "--chat", "--max-new-tokens", "6", "--endpoint", base_url,
                 "--endpoint-model", model, "--json"])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert code == 0 and [x["model"] for x in lines] == ["base", f"{model}@{base_url.split('/')[2]}"]
    assert lines[1]["endpoint"]["base_url"] == base_url and lines[0]["exact_match"] == lines[1]["exact_match"]
    assert main(["eval", "smollm2-135m-instruct", str(data_dir() / "eval_facts.jsonl"), "--endpoint", base_url]) == 2
    assert "one --endpoint-model per --endpoint" in capsys.readouterr().err


def test_evaluate_page_scores_an_endpoint_beside_the_base_and_shows_what_it_skipped(openai_server, workspace_home,
                                                                                   open_page):
    base_url, model = openai_server
    at = open_page("evaluate")
    at.text_input(key="ev_ep_url").set_value(base_url)
    at.text_input(key="ev_ep_model").set_value(model)
    at.text_input(key="ev_ep_name").set_value("served").run()
    assert any("**served** is scored beside" in c.value for c in at.caption)
    at.selectbox(key="ev_set").select("eval_facts.jsonl")
    at.multiselect(key="ev_metrics").set_value(["perplexity", "exact_match"])
    at.checkbox(key="ev_chat").check()
    at.number_input(key="ev_limit").set_value(2)
    at.number_input(key="ev_max_new").set_value(6)
    at.number_input(key="ev_resamples").set_value(100)
    at.button(key="ev_run").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert any("perplexity skipped for served" in w.value for w in at.warning)
    scores = at.dataframe[0].value
    assert list(scores.index) == ["base", "served"] and scores.loc["served", "perplexity"] == "—"
    assert scores.loc["served", "exact_match"] == scores.loc["base", "exact_match"]
