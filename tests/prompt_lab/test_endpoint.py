"""OpenAI-compatible endpoints against a real `transformers serve` and a tiny server that answers errors:
greedy output equals local greedy, streams and history work, every failure is a clear EndpointError."""

import pytest

from tests.conftest import free_port
from workbench.errors import InvalidSetting
from workbench.models.endpoint import EndpointError, EndpointSpec, chat
from workbench.prompt_lab import history as experiments
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import generate_greedy
from workbench.prompt_lab.grid import GridSpec, GridSpecError
from workbench.prompt_lab.remote import generate_endpoint, stream_endpoint

PROMPT = "What is the capital of France?"


def test_endpoint_greedy_equals_local_greedy_and_streams(smollm2, openai_server):
    base_url, model = openai_server
    endpoint = EndpointSpec(base_url=base_url, model=model, name="served")
    local = generate_greedy(smollm2, PROMPT, max_new_tokens=12, chat=True)
    reply = chat(endpoint, [{"role": "user", "content": PROMPT}], SamplingParams(12))
    assert reply.text == local.text and reply.new_tokens == local.new_tokens
    stream = stream_endpoint(endpoint, PROMPT, SamplingParams(12))
    pieces = list(stream)
    assert len(pieces) > 1 and "".join(pieces) == local.text == stream.result.text
    assert stream.result.endpoint == "served" and stream.result.finish_reason in ("stop", "length")
    assert stream.result.new_tokens == local.new_tokens and stream.result.prompt_tokens == local.prompt_tokens


def test_endpoint_runs_are_recorded_with_the_key_variable_name_only_and_rerun(openai_server, workspace_home,
                                                                             monkeypatch):
    base_url, model = openai_server
    monkeypatch.setenv("WORKBENCH_TEST_KEY", "sk-secret-value")
    endpoint = EndpointSpec(base_url=base_url, model=model, api_key_env="WORKBENCH_TEST_KEY", name="served")
    gen = generate_endpoint(endpoint, PROMPT, SamplingParams(6))
    run = experiments.get_run(experiments.record_generation(endpoint, gen, user_prompt=PROMPT, chat=True,
                                                            system=None))
    assert run.model == "served" and run.outputs[0]["endpoint"] == "served"
    assert run.spec["endpoint"]["api_key_env"] == "WORKBENCH_TEST_KEY"
    assert "sk-secret-value" not in experiments.export_runs([run], "json")
    again = experiments.get_run(experiments.rerun(None, run))
    assert again.outputs[0]["text"] == gen.text


def test_wrong_port_and_wrong_model_are_clear_errors(openai_server):
    base_url, _ = openai_server
    refused = EndpointSpec(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", max_retries=0)
    with pytest.raises(EndpointError, match="cannot connect to") as err:
        chat(refused, [{"role": "user", "content": "hi"}], SamplingParams(2))
    assert err.value.field == "base_url"
    missing = EndpointSpec(base_url=base_url, model="no-such-model", max_retries=0)
    with pytest.raises(EndpointError, match="model `no-such-model`") as err:
        chat(missing, [{"role": "user", "content": "hi"}], SamplingParams(2))
    assert err.value.field == "model"


@pytest.mark.parametrize("kind,message,field", [
    ("401", "refused the API key \\(401\\): check WORKBENCH_TEST_KEY", "api_key_env"),
    ("429", "rate limiting \\(429\\) after 2 retries", "concurrency"),
    ("malformed", "malformed response", None),
    ("slow", "did not answer within 1 s", "timeout"),
])
def test_error_answers_are_clear_errors(error_server, monkeypatch, kind, message, field):
    base, hits = error_server
    monkeypatch.setenv("WORKBENCH_TEST_KEY", "sk-anything")
    endpoint = EndpointSpec(base_url=f"{base}/{kind}/v1", model="m", api_key_env="WORKBENCH_TEST_KEY",
                            max_retries=0 if kind == "slow" else 2, timeout=1)
    with pytest.raises(EndpointError, match=message) as err:
        chat(endpoint, [{"role": "user", "content": "hi"}], SamplingParams(2))
    assert err.value.field == field
    if kind == "429":
        assert hits["429"] == 3  # the first try and two retries with backoff


def test_endpoint_settings_are_checked_and_the_key_variable_must_be_set(monkeypatch):
    with pytest.raises(InvalidSetting, match="name of an environment variable") as err:
        EndpointSpec(base_url="http://127.0.0.1:1/v1", model="m", api_key_env="sk-live key")
    assert err.value.field == "api_key_env"
    with pytest.raises(GridSpecError, match="base_url") as err:
        GridSpec.from_dict({"template": "x", "endpoints": [{"base_url": "ftp://x", "model": "m"}]}, path="g.yaml")
    assert "g.yaml" in str(err.value)
    monkeypatch.delenv("WORKBENCH_UNSET_KEY", raising=False)
    endpoint = EndpointSpec(base_url="http://127.0.0.1:1/v1", model="m", api_key_env="WORKBENCH_UNSET_KEY")
    with pytest.raises(EndpointError, match="WORKBENCH_UNSET_KEY .* is not set"):
        chat(endpoint, [{"role": "user", "content": "hi"}], SamplingParams(2))


def test_prompt_lab_page_streams_from_the_endpoint_and_adds_it_as_a_grid_column(openai_server, workspace_home):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    base_url, model = openai_server
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=300).run()
    at.switch_page("pages/prompt_lab.py").run()
    at.text_input(key="pl_ep_url").set_value(base_url)
    at.text_input(key="pl_ep_model").set_value(model)
    at.text_input(key="pl_ep_name").set_value("served")
    at.number_input(key="pl_max").set_value(8).run()  # the endpoint exists now: its toggle is enabled
    at.toggle(key="pl_ep_use").set_value(True).run()
    at.button(key="pl_ep_generate").click().run()
    assert not at.exception, at.exception
    assert any("Paris" in m.value for m in at.markdown)
    assert any("endpoint **served**" in c.value for c in at.caption)
    at.checkbox(key="pl_grid_ep").check()
    at.button(key="pl_run_grid").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    columns = [str(c) for frame in at.dataframe for c in frame.value.columns]
    assert any(c.startswith("served · ") for c in columns), columns
