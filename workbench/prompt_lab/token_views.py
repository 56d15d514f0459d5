"""Looking at tokens: probabilities of each generated token, one decoding step opened up, the logit lens."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.errors import InvalidSetting
from workbench.models import LoadedModel, adapters
from workbench.models.prompts import text_ids
from workbench.models.scoring import next_token_logits, target_logprobs
from workbench.prompt_lab.decoding import (
    SamplingParams,
    apply_repetition_penalty,
    apply_temperature,
    apply_top_k,
    apply_top_p,
)


@dataclass(frozen=True)
class Alternative:
    token_id: int
    text: str
    prob: float


@dataclass(frozen=True)
class TokenProb:
    """One generated token under the model (temperature 1): its probability and the most likely alternatives."""

    position: int        # 0 = first generated token
    token_id: int
    text: str
    prob: float
    logprob: float
    rank: int            # 1 = the model's top choice
    entropy: float       # of the whole next-token distribution, nats
    alternatives: list[Alternative]


@dataclass(frozen=True)
class TokenProbabilities:
    tokens: list[TokenProb]
    prompt_tokens: int
    prompt_perplexity: float | None  # exp(mean NLL of prompt tokens 2..n given the ones before); None for 1 token


def _token_text(tokenizer, token_id: int) -> str:
    return tokenizer.decode([token_id])


def _logits(loaded: LoadedModel, ids: list[int], adapter=None, *, start: int = 0) -> torch.Tensor:
    """Next-token logits at positions start..T-1 of one sequence, (T - start, vocab) float32, adapter applied."""
    if not ids:
        raise InvalidSetting("there are no tokens to score", field="prompt")
    if loaded.info.context_length and len(ids) > loaded.info.context_length:
        raise InvalidSetting(f"{len(ids)} tokens exceed the {loaded.info.context_length}-token context",
                             field="prompt")
    with adapters.use_adapter(loaded, adapter):
        return next_token_logits(loaded.model, ids, start=start)


def token_probabilities(loaded: LoadedModel, prompt_ids: list[int], new_ids: list[int], *, top_k: int = 5,
                        adapter=None) -> TokenProbabilities:
    """Per generated token: probability, rank and top-k alternatives; plus the prompt's own perplexity."""
    tok = loaded.tokenizer
    logits = _logits(loaded, list(prompt_ids) + list(new_ids), adapter)  # (P + N, vocab)
    logprobs = logits.log_softmax(-1)
    n_prompt = len(prompt_ids)
    perplexity = None
    if n_prompt > 1:
        prompt_logp = target_logprobs(logits[:n_prompt - 1], torch.tensor(prompt_ids[1:], device=logits.device))
        perplexity = float(torch.exp(-prompt_logp.mean()))
    tokens = []
    for j, token_id in enumerate(new_ids):
        row = logprobs[n_prompt - 1 + j]  # (vocab,): the distribution this token was drawn from
        probs = row.exp()
        top = torch.topk(probs, top_k)
        tokens.append(TokenProb(
            position=j, token_id=int(token_id), text=_token_text(tok, int(token_id)), prob=float(probs[token_id]),
            logprob=float(row[token_id]), rank=int((row > row[token_id]).sum()) + 1,
            entropy=float(-(probs * row).nan_to_num().sum()),
            alternatives=[Alternative(int(i), _token_text(tok, int(i)), float(p))
                          for p, i in zip(top.values, top.indices)]))
    return TokenProbabilities(tokens=tokens, prompt_tokens=n_prompt, prompt_perplexity=perplexity)


# ---- one decoding step opened up ----

@dataclass(frozen=True)
class StageView:
    """The next-token distribution after one processing stage, restricted to the tokens on show."""

    name: str
    probs: list[float]   # aligned with StepView.token_ids
    candidates: int      # tokens with non-zero probability after this stage


@dataclass(frozen=True)
class StepView:
    step: int
    token_ids: list[int]      # the tokens on show: the raw top-n, plus the drawn token if outside it
    token_texts: list[str]
    stages: list[StageView]   # model -> repetition penalty -> temperature -> top-k -> top-p
    drawn_id: int
    drawn_text: str
    greedy: bool


def open_step(loaded: LoadedModel, prompt_ids: list[int], new_ids: list[int], step: int,
              params: SamplingParams, *, top_n: int = 15, adapter=None) -> StepView:
    """What each processor did to P(x_t | x_<t) at generation step `step`, and which token was drawn."""
    if not 0 <= step < len(new_ids):
        raise InvalidSetting(f"`step` must be between 0 and {len(new_ids) - 1}, got {step}", field="step")
    context = list(prompt_ids) + list(new_ids[:step])
    raw = _logits(loaded, context, adapter, start=len(context) - 1)  # (1, vocab)
    ctx = torch.tensor([context])
    stages = [("model: softmax(W h_t)", raw)]
    stages.append((f"repetition penalty {params.repetition_penalty:g}",
                   apply_repetition_penalty(raw, ctx, params.repetition_penalty)))
    if not params.greedy:
        stages.append((f"temperature {params.temperature:g}", apply_temperature(stages[-1][1], params.temperature)))
        stages.append((f"top-k {params.top_k or 'off'}", apply_top_k(stages[-1][1], params.top_k)))
        stages.append((f"top-p {params.top_p:g}", apply_top_p(stages[-1][1], params.top_p)))
    drawn = int(new_ids[step])
    shown = torch.topk(raw[0], top_n).indices.tolist()
    if drawn not in shown:
        shown.append(drawn)
    views = []
    for name, logits in stages:
        probs = logits[0].softmax(-1)
        views.append(StageView(name=name, probs=[float(probs[i]) for i in shown],
                               candidates=int((probs > 0).sum())))
    tok = loaded.tokenizer
    return StepView(step=step, token_ids=shown, token_texts=[_token_text(tok, i) for i in shown], stages=views,
                    drawn_id=drawn, drawn_text=_token_text(tok, drawn), greedy=params.greedy)


# ---- logit lens ----

@dataclass(frozen=True)
class LogitLens:
    """Top next-token at every layer and position: final norm + unembedding applied to each residual stream."""

    tokens: list[str]             # the input tokens, (T,)
    layers: list[str]             # "embed", "1", ..., "L"
    top_ids: list[list[int]]      # (L + 1, T)
    top_texts: list[list[str]]    # (L + 1, T)
    top_probs: list[list[float]]  # (L + 1, T)


def logit_lens(loaded: LoadedModel, text: str, *, max_tokens: int = 64, adapter=None) -> LogitLens:
    """Read the residual stream after the embedding and after each layer through the model's own head."""
    if loaded.kind != "causal":
        raise InvalidSetting(f"{loaded.info.name} has no language-model head for a logit lens", field="model")
    if not text or not text.strip():
        raise InvalidSetting("the text is empty", field="text")
    tok = loaded.tokenizer
    ids = text_ids(tok, text)[-max_tokens:]
    core = loaded.model.model
    captured: list[torch.Tensor] = []

    def keep(module, inputs, output) -> None:
        captured.append((output[0] if isinstance(output, tuple) else output)[0])  # (T, hidden)

    with adapters.use_adapter(loaded, adapter), torch.inference_mode():
        handles = [core.embed_tokens.register_forward_hook(keep)]
        handles += [layer.register_forward_hook(keep) for layer in core.layers]
        try:
            loaded.model(input_ids=torch.tensor([ids], device=loaded.device))
        finally:
            for h in handles:
                h.remove()
        top_ids, top_probs = [], []
        for hidden in captured:
            probs = loaded.model.lm_head(core.norm(hidden)).float().softmax(-1)  # (T, vocab)
            p, i = probs.max(-1)
            top_ids.append(i.tolist())
            top_probs.append(p.tolist())
    return LogitLens(tokens=[_token_text(tok, i) for i in ids],
                     layers=["embed"] + [str(n + 1) for n in range(len(captured) - 1)], top_ids=top_ids,
                     top_texts=[[_token_text(tok, i) for i in row] for row in top_ids], top_probs=top_probs)
