"""Input attribution of one output to the input tokens (gradient x input, integrated gradients, occlusion, all
from Captum at the input embeddings), and the faithfulness panel that sets them beside attention rollout.

What is attributed (a scalar per text):
- causal model: the logit of a target token at `position` (default: the last token, i.e. the next token; target
  default: the greedy one), or logit(target) - logit(contrast);
- encoder: the cosine similarity of the text's mean-pooled last hidden state (the sentence embedding of
  all-MiniLM) to the target text's, minus the contrast text's; without a target, the norm of that embedding.

The baseline of integrated gradients and occlusion puts the pad token's embedding at every position except the
special tokens (BOS, [CLS], [SEP], chat markers) and a causal model's first token, which keep their own: the first
token carries the attention sink, and paths that move it leave the model's range (integrated gradients then misses
its completeness check by several times the output). These "fixed" tokens get no integrated-gradients or occlusion
attribution, and the faithfulness panel leaves them out of its correlations.
"""

from __future__ import annotations

import inspect
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from workbench.attention.capture import OverTokens, capture_attention, encode_text, rollout
from workbench.errors import InvalidSetting
from workbench.models import LoadedModel
from workbench.models.adapters import use_adapter
from workbench.models.prompts import token_label, token_labels
from workbench.progress import Progress, no_progress
from workbench.prompt_lab.generation import resolve_adapter

METHODS = {"gxi": "gradient x input", "ig": "integrated gradients", "occlusion": "occlusion"}
PANEL_METHODS = {"rollout": "attention rollout", **METHODS}
MAX_TOKENS = 1024         # occlusion runs one forward pass per token; integrated gradients steps x tokens
MAX_STEPS = 512
TOKENS_PER_BATCH = 4096   # integrated gradients: steps x tokens in one batched backward pass at most
DISAGREE_BELOW = 0.3      # a pair of methods whose Spearman correlation is lower "disagrees"


class UnknownToken(InvalidSetting):
    """A target or contrast is not exactly one token of the model's vocabulary."""


@dataclass(frozen=True, eq=False)
class Attribution(OverTokens):
    """One method's attribution of one output to every input token."""

    model_name: str
    kind: str                    # "causal" or "encoder"
    text: str                    # what the model read (chat template applied when asked)
    tokens: list[str]            # one readable label per input token
    input_ids: np.ndarray        # (T,) int64
    output: str                  # what was attributed, in words
    position: int | None         # causal: the position whose next-token logits are attributed
    target: str | None           # token (causal) or text (encoder); None: the encoder's embedding norm
    target_id: int | None
    contrast: str | None
    contrast_id: int | None
    method: str                  # a key of METHODS
    scores: np.ndarray           # (T,) float32, summed over the hidden dimension; > 0 pushes the output up
    fixed: np.ndarray            # (T,) bool: tokens the baseline keeps (see the module docstring)
    value: float                 # f(x): the attributed output for the text
    baseline_value: float        # f(baseline)
    steps: int | None = None     # integrated gradients only
    delta: float = math.nan      # integrated gradients: sum(scores) - (f(x) - f(baseline))
    adapter: str | None = None
    seconds: float = 0.0

    @property
    def visible(self) -> int:
        """How many leading tokens can reach the output (all of an encoder's; up to `position` for a causal model)."""
        return self.n_tokens if self.position is None else self.position + 1

    @property
    def completeness_gap(self) -> float:
        """|delta| / |f(x) - f(baseline)|: how far integrated gradients are from summing to the output change."""
        change = self.value - self.baseline_value
        return abs(self.delta) / abs(change) if change else math.nan

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"position": np.arange(self.n_tokens), "token": self.tokens,
                             "token_id": self.input_ids, "score": self.scores,
                             "visible": np.arange(self.n_tokens) < self.visible, "fixed": self.fixed})


@dataclass(frozen=True, eq=False)
class Faithfulness:
    """Rollout and the three attribution methods for the same output, side by side, with rank correlations."""

    attributions: dict[str, Attribution]   # method -> its attribution
    rollout: np.ndarray                    # (T,) rollout weight of each input token for the output position
    compared: np.ndarray                   # (T,) bool: tokens the correlations are over
    correlations: pd.DataFrame             # Spearman of |score| between every pair (methods x methods)
    disagree: bool
    message: str
    threshold: float = DISAGREE_BELOW
    seconds: float = 0.0
    scores: dict[str, np.ndarray] = field(init=False, repr=False)  # rollout first, then each method

    def __post_init__(self) -> None:
        scores = {"rollout": self.rollout, **{m: a.scores for m, a in self.attributions.items()}}
        object.__setattr__(self, "scores", scores)

    @property
    def first(self) -> Attribution:
        return next(iter(self.attributions.values()))

    def to_frame(self) -> pd.DataFrame:
        a = self.first
        return pd.DataFrame({"position": np.arange(a.n_tokens), "token": a.tokens, **self.scores,
                             "compared": self.compared})


@dataclass(eq=False)
class _Problem:
    """One output of one text ready to attribute: the scalar function of input embeddings and its baseline."""

    loaded: LoadedModel
    text: str
    ids: list[int]
    position: int | None
    target: str | None
    target_id: int | None
    contrast: str | None
    contrast_id: int | None
    output: str
    objective: Callable[[torch.Tensor], torch.Tensor]  # (B, T, H) embeddings -> (B,)
    embeds: torch.Tensor     # (1, T, H)
    baseline: torch.Tensor   # (1, T, H)
    fixed: np.ndarray        # (T,) bool: the baseline keeps these tokens


def token_id(tokenizer, token: str | int, *, field: str = "target") -> int:
    """The id of one token given as an id, `id:N`, or text (`␣` for a space, as the token labels show it)."""
    if isinstance(token, str) and (found := re.fullmatch(r"\s*id:(\d+)\s*", token)):
        token = int(found.group(1))
    if isinstance(token, (int, np.integer)):
        if not 0 <= int(token) < len(tokenizer):
            raise UnknownToken(f"token id {token} is out of range 0..{len(tokenizer) - 1}", field=field)
        return int(token)
    ids = tokenizer(token.replace("␣", " "), add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        pieces = " | ".join(token_labels(tokenizer, ids)) or "nothing"
        raise UnknownToken(f"`{field}` {token!r} is {len(ids)} tokens for this model ({pieces}); give exactly one "
                           "(a leading space is part of a token: ' he' is not 'he'), or id:N", field=field)
    return int(ids[0])


def _logits_slice(model: torch.nn.Module, n_tokens: int, position: int) -> dict:
    """Ask for logits from `position` on only, when the model's forward takes `logits_to_keep`."""
    accepts = "logits_to_keep" in inspect.signature(model.forward).parameters
    return {"logits_to_keep": n_tokens - position} if accepts else {}


def _causal_objective(loaded: LoadedModel, n_tokens: int, position: int, target: int,
                      contrast: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    extra = _logits_slice(loaded.model, n_tokens, position)

    def objective(embeds: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)       # (B, T)
        out = loaded.model(inputs_embeds=embeds, attention_mask=mask, use_cache=False, **extra)
        logits = out.logits[:, position - n_tokens].float()                               # (B, V) at `position`
        return logits[:, target] - (logits[:, contrast] if contrast is not None else 0.0)
    return objective


def _sentence_embedding(loaded: LoadedModel, embeds: torch.Tensor) -> torch.Tensor:
    """Mean over tokens of the last hidden state: (B, T, H) input embeddings -> (B, H)."""
    mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
    out = loaded.model(inputs_embeds=embeds, attention_mask=mask, output_hidden_states=True)
    return out.hidden_states[-1].float().mean(1)


def _text_embedding(loaded: LoadedModel, text: str) -> torch.Tensor:
    ids = torch.tensor([loaded.tokenizer(text)["input_ids"]], device=loaded.device)
    with torch.no_grad():
        return _sentence_embedding(loaded, loaded.model.get_input_embeddings()(ids))[0]      # (H,)


def _encoder_objective(loaded: LoadedModel, target: str | None,
                       contrast: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
    references = [_text_embedding(loaded, t) for t in (target, contrast) if t]

    def objective(embeds: torch.Tensor) -> torch.Tensor:
        pooled = _sentence_embedding(loaded, embeds)                                       # (B, H)
        if not references:
            return pooled.norm(dim=-1)
        similarity = [torch.nn.functional.cosine_similarity(pooled, r[None], dim=-1) for r in references]
        return similarity[0] - (similarity[1] if len(similarity) > 1 else 0.0)
    return objective


def _baseline_ids(loaded: LoadedModel, ids: list[int]) -> list[int]:
    """The pad token everywhere except at special tokens and a causal model's first token, which stay (see the
    module docstring)."""
    tokenizer = loaded.tokenizer
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.unk_token_id
    if pad is None:
        raise InvalidSetting(f"{loaded.info.name}'s tokenizer has no pad or unknown token for the baseline",
                             field="model")
    special = set(tokenizer.all_special_ids)
    first = 1 if loaded.kind == "causal" else 0
    return ids[:first] + [i if i in special else int(pad) for i in ids[first:]]


def _check_position(position: int | None, n_tokens: int) -> int:
    if position is None:
        return n_tokens - 1
    if not 0 <= int(position) < n_tokens:
        raise InvalidSetting(f"`position` {position} is out of range 0..{n_tokens - 1}", field="position")
    return int(position)


def _greedy_token(loaded: LoadedModel, embeds: torch.Tensor, position: int) -> int:
    with torch.no_grad():
        out = loaded.model(inputs_embeds=embeds, use_cache=False)
    return int(out.logits[0, position].argmax())


def _label(tokenizer, token: int | None) -> str | None:
    return None if token is None else token_label(tokenizer.decode([token]))


def _causal_output(target: str, contrast: str | None, position: int) -> str:
    if contrast is None:
        return f"logit of {target!r} after position {position}"
    return f"logit({target!r}) - logit({contrast!r}) after position {position}"


def _encoder_output(target: str | None, contrast: str | None) -> str:
    if not target:
        return "norm of the sentence embedding (mean of the last hidden states)"
    output = f"cosine similarity of the sentence embedding to {target!r}"
    return output + (f" minus to {contrast!r}" if contrast else "")


def _blank(value: str | int | None) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _prepare(loaded: LoadedModel, text: str, *, target: str | int | None, contrast: str | int | None,
             position: int | None, chat: bool, max_tokens: int | None) -> _Problem:
    """Encode the text and build the scalar output to attribute (call it under the model lock)."""
    full, ids, _ = encode_text(loaded, text, max_tokens=max_tokens, chat=chat)
    if len(ids) > MAX_TOKENS:
        raise InvalidSetting(f"attribution runs on up to {MAX_TOKENS} tokens and this text has {len(ids)}; "
                             "cut it with max tokens", field="max_tokens")
    embedding = loaded.model.get_input_embeddings()
    baseline_ids = _baseline_ids(loaded, ids)
    with torch.no_grad():
        embeds = embedding(torch.tensor([ids], device=loaded.device))                         # (1, T, H)
        baseline = embedding(torch.tensor([baseline_ids], device=loaded.device))              # (1, T, H)
    problem = {"loaded": loaded, "text": full, "ids": ids, "embeds": embeds, "baseline": baseline,
               "fixed": np.asarray(ids) == np.asarray(baseline_ids)}
    if loaded.kind != "causal":
        target = None if _blank(target) else str(target)
        contrast = None if _blank(contrast) else str(contrast)
        if contrast and not target:
            raise InvalidSetting("a contrast text needs a target text", field="contrast")
        return _Problem(**problem, position=None, target=target, target_id=None, contrast=contrast,
                        contrast_id=None, output=_encoder_output(target, contrast),
                        objective=_encoder_objective(loaded, target, contrast))
    position = _check_position(position, len(ids))
    target_id = token_id(loaded.tokenizer, _greedy_token(loaded, embeds, position) if _blank(target) else target)
    contrast_id = None if _blank(contrast) else token_id(loaded.tokenizer, contrast, field="contrast")
    target, contrast = _label(loaded.tokenizer, target_id), _label(loaded.tokenizer, contrast_id)
    return _Problem(**problem, position=position, target=target, target_id=target_id, contrast=contrast,
                    contrast_id=contrast_id, output=_causal_output(target, contrast, position),
                    objective=_causal_objective(loaded, len(ids), position, target_id, contrast_id))


def _leaf(embeds: torch.Tensor) -> torch.Tensor:
    """A copy of the input embeddings that autograd differentiates against."""
    return embeds.detach().clone().requires_grad_(True)


def _gradient_x_input(problem: _Problem, steps: int) -> tuple[torch.Tensor, float]:
    from captum.attr import InputXGradient

    return InputXGradient(problem.objective).attribute(_leaf(problem.embeds)).sum(-1)[0], math.nan


def _integrated_gradients(problem: _Problem, steps: int) -> tuple[torch.Tensor, float]:
    """Batched over steps: as many path points per forward/backward pass as TOKENS_PER_BATCH allows."""
    from captum.attr import IntegratedGradients

    batch = max(1, min(steps, TOKENS_PER_BATCH // problem.embeds.shape[1]))
    scores, delta = IntegratedGradients(problem.objective).attribute(
        _leaf(problem.embeds), baselines=problem.baseline, n_steps=steps, internal_batch_size=batch,
        return_convergence_delta=True)
    return scores.sum(-1)[0], float(delta.sum())


def _occlusion(problem: _Problem, steps: int) -> tuple[torch.Tensor, float]:
    """One token at a time replaced by its baseline embedding. One perturbation per pass: a batch of several
    changes the float rounding of the matrix products, and an unseen token must get exactly zero."""
    from captum.attr import Occlusion

    hidden = problem.embeds.shape[-1]
    scores = Occlusion(problem.objective).attribute(
        _leaf(problem.embeds), sliding_window_shapes=(1, hidden), strides=(1, hidden), baselines=problem.baseline,
        perturbations_per_eval=1)
    return scores[0, :, 0], math.nan  # every unit of a token's window carries the token's whole output change


ATTRIBUTORS: dict[str, Callable[[_Problem, int], tuple[torch.Tensor, float]]] = {
    "gxi": _gradient_x_input, "ig": _integrated_gradients, "occlusion": _occlusion}


def check_method(method: str, steps: int) -> None:
    if method not in METHODS:
        raise InvalidSetting(f"`method` must be one of {', '.join(METHODS)}, got {method!r}", field="method")
    if not 1 <= int(steps) <= MAX_STEPS:
        raise InvalidSetting(f"`steps` must be 1..{MAX_STEPS}, got {steps}", field="steps")


def _attribute_problem(problem: _Problem, method: str, steps: int, adapter: str | None) -> Attribution:
    start = time.perf_counter()
    with torch.enable_grad():
        scores, delta = ATTRIBUTORS[method](problem, steps)
    with torch.no_grad():
        value, baseline_value = problem.objective(torch.cat([problem.embeds, problem.baseline])).tolist()
    loaded = problem.loaded
    return Attribution(
        model_name=loaded.info.name, kind="causal" if loaded.kind == "causal" else "encoder", text=problem.text,
        tokens=token_labels(loaded.tokenizer, problem.ids), input_ids=np.asarray(problem.ids, dtype=np.int64),
        output=problem.output, position=problem.position, target=problem.target, target_id=problem.target_id,
        contrast=problem.contrast, contrast_id=problem.contrast_id, method=method,
        scores=scores.detach().float().cpu().numpy(), fixed=problem.fixed, value=float(value),
        baseline_value=float(baseline_value),
        steps=int(steps) if method == "ig" else None, delta=delta, adapter=adapter,
        seconds=time.perf_counter() - start)


def attribute(loaded: LoadedModel, text: str, *, target: str | int | None = None, contrast: str | int | None = None,
              method: str = "ig", steps: int = 32, position: int | None = None, chat: bool = False,
              max_tokens: int | None = None, adapter=None) -> Attribution:
    """Attribute one output of `text` (see the module docstring) to its input tokens with `method`; `adapter`
    (a registered name, folder or AdapterInfo) runs the model with that LoRA adapter active."""
    check_method(method, steps)
    with use_adapter(loaded, resolve_adapter(adapter)) as adapter_name:  # holds loaded.lock
        problem = _prepare(loaded, text, target=target, contrast=contrast, position=position, chat=chat,
                           max_tokens=max_tokens)
        return _attribute_problem(problem, method, int(steps), adapter_name)


def rollout_scores(loaded: LoadedModel, text: str, position: int | None, *, chat: bool = False,
                   max_tokens: int | None = None) -> np.ndarray:
    """(T,) attention rollout over every layer into the output: the row of `position`, or for an encoder (whose
    output pools every token) the mean of all rows."""
    flow = rollout(capture_attention(loaded, text, chat=chat, max_tokens=max_tokens).pattern)   # (T, T)
    return flow.mean(0) if position is None else flow[position]


def rank_correlations(scores: dict[str, np.ndarray], compared: np.ndarray) -> pd.DataFrame:
    """Spearman correlation of |score| between every pair of methods over the compared tokens (rollout has no
    sign, so importance is compared, not direction)."""
    frame = pd.DataFrame({name: np.abs(values[compared]) for name, values in scores.items()})
    return frame.corr(method="spearman")


def disagreement(correlations: pd.DataFrame, threshold: float = DISAGREE_BELOW) -> tuple[bool, str]:
    """(whether some pair falls below `threshold`, a plain message saying which)."""
    names = list(correlations.columns)
    pairs = [(a, b, correlations.loc[a, b]) for i, a in enumerate(names) for b in names[i + 1:]]
    known = [(a, b, r) for a, b, r in pairs if np.isfinite(r)]
    if not known:
        return False, "Too few tokens to compare the methods (the correlations need at least 3 that vary)."
    low = sorted((r, a, b) for a, b, r in known if r < threshold)
    if not low:
        return False, f"The methods agree: every pair ranks the tokens with Spearman ρ ≥ {threshold:g}."
    listed = "; ".join(f"{PANEL_METHODS[a]} vs {PANEL_METHODS[b]} ρ = {r:.2f}" for r, a, b in low)
    return True, (f"The methods disagree on which tokens matter ({listed}; below {threshold:g}). No single chart "
                  "tells the story here: attention rollout shows where heads look, not what changed the output, "
                  "and gradients are local; trust a token's importance only where the methods agree.")


def faithfulness(loaded: LoadedModel, text: str, *, target: str | int | None = None,
                 contrast: str | int | None = None, steps: int = 32, position: int | None = None, chat: bool = False,
                 max_tokens: int | None = None, adapter=None, threshold: float = DISAGREE_BELOW,
                 progress: Progress = no_progress) -> Faithfulness:
    """Rollout, gradient x input, integrated gradients and occlusion for the same output, their Spearman rank
    correlations over the tokens every method can move, and whether some pair disagrees."""
    check_method("ig", steps)
    start = time.perf_counter()
    with use_adapter(loaded, resolve_adapter(adapter)) as adapter_name:
        problem = _prepare(loaded, text, target=target, contrast=contrast, position=position, chat=chat,
                           max_tokens=max_tokens)
        progress(0.0, "Attention rollout")
        roll = rollout_scores(loaded, text, problem.position, chat=chat, max_tokens=max_tokens)
        found = {}
        for i, method in enumerate(METHODS):
            progress((i + 1) / (len(METHODS) + 1), METHODS[method].capitalize())
            found[method] = _attribute_problem(problem, method, int(steps), adapter_name)
    progress(1.0, "Rank correlations")
    first = found["gxi"]
    compared = (np.arange(first.n_tokens) < first.visible) & ~first.fixed
    correlations = rank_correlations({"rollout": roll, **{m: a.scores for m, a in found.items()}}, compared)
    disagree, message = disagreement(correlations, threshold)
    return Faithfulness(attributions=found, rollout=roll.astype(np.float32), compared=compared,
                        correlations=correlations, disagree=disagree, message=message, threshold=threshold,
                        seconds=time.perf_counter() - start)
