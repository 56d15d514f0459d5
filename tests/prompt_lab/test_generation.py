"""Generation core: our settings through `generate` against plain `generate`, batched grids, token views, bad input."""

import math

import pytest
import torch

from workbench.models import adapters
from workbench.prompt_lab.decoding import (
    InvalidSampling,
    SamplingParams,
    apply_repetition_penalty,
    apply_top_k,
    apply_top_p,
)
from workbench.prompt_lab.generation import (
    EmptyPrompt,
    encode_prompt,
    format_prompt,
    generate,
    generate_greedy,
    generate_grid,
    logit_lens,
    open_step,
    stream_generation,
    token_probabilities,
)
from workbench.prompt_lab.grid import GridSpec, GridSpecError, TemplateError, summarize_repeats

GREEDY = SamplingParams(max_new_tokens=12)


@pytest.mark.parametrize("prompt,chat", [("What is the capital of France?", True), ("The cat sat on the", False)])
def test_greedy_generate_matches_transformers_generate_token_for_token(smollm2, prompt, chat):
    ours = generate(smollm2, prompt, GREEDY, chat=chat)
    reference = generate_greedy(smollm2, prompt, max_new_tokens=12, chat=chat)
    assert ours.token_ids == reference.token_ids
    assert ours.text == reference.text and ours.prompt_ids == reference.prompt_ids


def test_batched_grid_equals_cells_run_one_by_one(smollm2):
    rows = ({"thing": "the sea"}, {"thing": "a very old and quiet mountain village in winter"}, {"thing": "bread"})
    spec = GridSpec(template="Write one sentence about {thing}.", rows=rows, param_sets=(SamplingParams(10),),
                    batch_size=3)
    batched = generate_grid(smollm2, spec)
    assert batched.batches == 1
    for cell in batched.cells:
        single = generate_greedy(smollm2, f"Write one sentence about {cell.variables['thing']}.", max_new_tokens=10,
                                 chat=True)
        assert cell.text == single.text and cell.new_tokens == single.new_tokens


@pytest.mark.parametrize("params", [SamplingParams(8, repetition_penalty=1.3),
                                    SamplingParams(8, temperature=1.1, top_k=30, top_p=0.9, repetition_penalty=1.2)])
def test_a_cell_decodes_the_same_in_a_padded_batch_as_alone_with_its_seed(smollm2, params):
    rows = ({"thing": "tea"}, {"thing": "the long history of bridges built from stone in old European towns"})
    spec = GridSpec(template="Tell me about {thing}.", rows=rows, param_sets=(params,), seed=3, batch_size=2)
    batched = generate_grid(smollm2, spec)
    assert batched.batches == 1
    for cell in batched.cells:
        alone = generate(smollm2, f"Tell me about {cell.variables['thing']}.", params, seed=cell.seed, chat=True)
        assert cell.text == alone.text and cell.new_tokens == alone.new_tokens


def test_same_seed_gives_same_sample_and_repeats_collapse(smollm2):
    params = SamplingParams(max_new_tokens=8, temperature=1.2, top_k=40, top_p=0.95)
    a = generate(smollm2, "Name a colour.", params, chat=True, seed=7)
    b = generate(smollm2, "Name a colour.", params, chat=True, seed=7)
    assert a.token_ids == b.token_ids
    spec = GridSpec(template="Name a colour.", param_sets=(params, SamplingParams(4)), repeats=3, seed=7)
    grid = generate_grid(smollm2, spec)
    sampled = [c for c in grid.cells if c.params == params.label]
    assert [c.seed for c in sampled] == [7, 8, 9]
    assert [c.text for c in generate_grid(smollm2, spec).cells] == [c.text for c in grid.cells]
    greedy = [c.text for c in grid.cells if c.params == "greedy"]
    assert len(greedy) == 3 and summarize_repeats(greedy).agreement == 1.0
    summary = summarize_repeats([c.text for c in sampled])
    assert summary.samples == 3 and 1 <= summary.distinct <= 3 and sum(summary.counts.values()) == 3


def test_streamed_pieces_add_up_to_the_result(smollm2):
    stream = stream_generation(smollm2, "Say hello.", SamplingParams(10), chat=True)
    pieces = list(stream)
    assert len(pieces) > 1 and "".join(pieces) == stream.result.text
    assert stream.result.new_tokens == len(stream.result.token_ids) <= 10


def test_token_probabilities_rank_greedy_tokens_first_and_prompt_perplexity_matches_loss(smollm2):
    gen = generate(smollm2, "The capital of France is", SamplingParams(6))
    view = token_probabilities(smollm2, gen.prompt_ids, gen.token_ids, top_k=5)
    for t in view.tokens:
        assert t.rank == 1 and t.alternatives[0].token_id == t.token_id
        assert t.prob == pytest.approx(t.alternatives[0].prob)
        probs = [a.prob for a in t.alternatives]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-5
    ids = torch.tensor([gen.prompt_ids])
    with torch.inference_mode():
        logits = smollm2.model(input_ids=ids).logits[0]
        loss = smollm2.model(input_ids=ids, labels=ids).loss
    torch.testing.assert_close(logits.softmax(-1).sum(-1), torch.ones(ids.shape[1]), atol=1e-4, rtol=0)
    assert view.prompt_perplexity == pytest.approx(math.exp(float(loss)), rel=1e-4)


def test_logit_lens_last_layer_equals_the_models_own_prediction(smollm2):
    lens = logit_lens(smollm2, "The capital of France is Paris")
    ids = smollm2.tokenizer("The capital of France is Paris")["input_ids"]
    with torch.inference_mode():
        predicted = smollm2.model(input_ids=torch.tensor([ids])).logits[0].argmax(-1).tolist()
    assert len(lens.layers) == smollm2.info.layers + 1 and len(lens.tokens) == len(ids)
    assert lens.top_ids[-1] == predicted
    assert all(0 < p <= 1 for row in lens.top_probs for p in row)


def test_open_step_shows_each_processor_and_the_drawn_token(smollm2):
    params = SamplingParams(max_new_tokens=5, temperature=0.7, top_k=10, top_p=0.9, repetition_penalty=1.3)
    gen = generate(smollm2, "List three fruits:", params, chat=True, seed=1)
    view = open_step(smollm2, gen.prompt_ids, gen.token_ids, 2, params)
    assert [s.name.split()[0] for s in view.stages] == ["model:", "repetition", "temperature", "top-k", "top-p"]
    assert view.stages[3].candidates == 10 and view.stages[4].candidates <= 10
    assert view.drawn_id == gen.token_ids[2] and view.drawn_id in view.token_ids
    assert view.stages[-1].probs[view.token_ids.index(view.drawn_id)] > 0
    greedy = generate(smollm2, "List three fruits:", SamplingParams(4), chat=True)
    step = open_step(smollm2, greedy.prompt_ids, greedy.token_ids, 1, SamplingParams(4))
    assert step.token_ids[0] == step.drawn_id and len(step.stages) == 2


def test_processors_match_transformers_logits_processors():
    from transformers import RepetitionPenaltyLogitsProcessor, TopKLogitsWarper, TopPLogitsWarper

    torch.manual_seed(0)
    logits, context = torch.randn(3, 500), torch.randint(0, 500, (3, 20))
    torch.testing.assert_close(apply_top_p(logits, 0.8), TopPLogitsWarper(0.8)(context, logits.clone()))
    torch.testing.assert_close(apply_top_k(logits, 7), TopKLogitsWarper(7)(context, logits.clone()))
    torch.testing.assert_close(apply_repetition_penalty(logits, context, 1.4),
                               RepetitionPenaltyLogitsProcessor(1.4)(context, logits.clone()))


@pytest.mark.parametrize("field,value", [("temperature", -1), ("top_p", 0), ("top_k", -3),
                                         ("repetition_penalty", 0), ("max_new_tokens", 0)])
def test_invalid_sampling_values_name_the_field(field, value):
    with pytest.raises(InvalidSampling, match=f"`{field}`") as err:
        SamplingParams(**{field: value})
    assert err.value.field == field


def test_bad_prompts_and_templates_are_clear_errors(smollm2):
    with pytest.raises(EmptyPrompt, match="empty"):
        generate(smollm2, "   ", GREEDY)
    with pytest.raises(TemplateError, match=r"unknown variable `\{city\}` in row 1"):
        GridSpec(template="Tell me about {city}.", rows=({"city": "Paris"}, {"town": "Lyon"}))
    with pytest.raises(GridSpecError, match="parameter set 0: `top_p`") as err:
        GridSpec.from_dict({"template": "x", "param_sets": [{"top_p": 2}]}, path="grid.yaml")
    assert "grid.yaml" in str(err.value)


def test_prompt_longer_than_context_is_cut_with_a_warning(smollm2):
    text = format_prompt(smollm2, "word " * (smollm2.info.context_length + 100))
    ids, warnings = encode_prompt(smollm2, text, chat=False, max_new_tokens=16)
    assert len(ids) == smollm2.info.context_length - 16
    assert len(warnings) == 1 and "kept the last" in warnings[0]


@pytest.fixture(scope="module")
def adapted(workspace_home_module):
    """A fresh SmolLM2 (LoRA gets injected into it) and a random LoRA adapter in the registry."""
    from peft import LoraConfig, get_peft_model

    from workbench.models import ModelSpec, load

    base = load(ModelSpec("smollm2-135m-instruct", device="cpu"))
    donor = load(ModelSpec("smollm2-135m-instruct", device="cpu")).model
    peft = get_peft_model(donor, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    staging = adapters.staging_dir("noisy")
    peft.save_pretrained(staging)
    adapters.register(staging, "noisy", {"base_model": "smollm2-135m-instruct", "task": "causal"})
    return base


@pytest.fixture(scope="module")
def workspace_home_module(tmp_path_factory):
    import os

    old = os.environ.get("WORKBENCH_HOME")
    os.environ["WORKBENCH_HOME"] = str(tmp_path_factory.mktemp("adapter-home"))
    yield
    if old is not None:
        os.environ["WORKBENCH_HOME"] = old


def test_grid_cells_name_their_adapter_and_the_adapter_changes_the_output(adapted):
    path = adapters.list_adapters("smollm2-135m-instruct")[0].path
    spec = GridSpec(template="Say hi.", param_sets=(SamplingParams(6),), adapters=(None, "noisy"))
    cells = generate_grid(adapted, spec).cells
    assert [c.adapter for c in cells] == [None, "noisy"]
    assert cells[0].text != cells[1].text
    assert generate(adapted, "Say hi.", SamplingParams(6), chat=True, adapter=path).text == cells[1].text


def test_a_grid_puts_an_endpoint_column_beside_a_local_adapter_column(adapted, openai_server):
    from workbench.models.endpoint import EndpointSpec

    base_url, model = openai_server
    endpoint = EndpointSpec(base_url=base_url, model=model, name="served")
    spec = GridSpec(template="Say {word}.", rows=({"word": "hi"}, {"word": "bye"}), param_sets=(SamplingParams(6),),
                    adapters=(None, "noisy"), endpoints=(endpoint,))
    cells = generate_grid(adapted, spec).cells
    assert [(c.adapter, c.endpoint, c.row) for c in cells] == [
        (None, None, 0), (None, None, 1), ("noisy", None, 0), ("noisy", None, 1), (None, "served", 0),
        (None, "served", 1)]
    base, served = cells[:2], cells[4:]
    assert [c.text for c in served] == [c.text for c in base]  # the server runs the same weights, greedy
    assert GridSpec.from_dict(spec.to_dict()).endpoints == (endpoint,)
