"""Base against fine-tuned on one prompt: outputs side by side, how the adapter shifted the log-probability of
each chosen token, and which layers and heads attend differently (attention diff)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.attention.capture import capture_attention
from workbench.errors import InvalidSetting
from workbench.models import LoadedModel, adapters
from workbench.models.prompts import token_labels
from workbench.models.scoring import sequence_logprobs
from workbench.progress import Progress, no_progress
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import Generation, generate, resolve_adapter

MEASURES = {"js": "Jensen-Shannon distance", "tv": "total variation"}


@dataclass
class SideBySide:
    """The same prompt through the base and the adapter, greedy and sampled (same seed for both)."""

    base_greedy: Generation
    tuned_greedy: Generation
    base_sampled: Generation
    tuned_sampled: Generation
    adapter: str


@dataclass
class TokenShift:
    """Per chosen token: log-probability under the base and under the adapter, and the shift between them."""

    tokens: list[str]         # readable pieces of the scored continuation
    token_ids: list[int]      # (N,)
    logp_base: np.ndarray     # (N,) natural log
    logp_tuned: np.ndarray    # (N,)
    source: str               # whose output was scored: "base" or the adapter's name

    @property
    def shift(self) -> np.ndarray:
        return self.logp_tuned - self.logp_base  # (N,) > 0: the adapter made this token more likely

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"position": np.arange(len(self.tokens)), "token": self.tokens,
                             "logp_base": self.logp_base, "logp_tuned": self.logp_tuned, "shift": self.shift,
                             "p_base": np.exp(self.logp_base), "p_tuned": np.exp(self.logp_tuned)})


@dataclass
class AttentionDiff:
    """Both models' attention maps over one text and how far apart they are per layer and head."""

    tokens: list[str]
    layers: list[int]
    base: np.ndarray          # (L, H, T, T) float16, rows sum to 1
    tuned: np.ndarray         # (L, H, T, T) float16
    divergence: np.ndarray    # (L, H) mean over query rows of the chosen measure, in [0, 1]
    measure: str              # js | tv
    adapter: str
    truncated: bool = False

    def ranking(self, top: int = 10) -> pd.DataFrame:
        """The heads that changed most, largest first."""
        layer_idx, head = np.unravel_index(np.argsort(-self.divergence, axis=None)[:top], self.divergence.shape)
        return pd.DataFrame({"layer": [self.layers[i] for i in layer_idx], "head": head,
                             self.measure: self.divergence[layer_idx, head]})

    def head_maps(self, layer: int, head: int) -> tuple[np.ndarray, np.ndarray]:
        """Base and adapter maps of one head, float32 (T, T)."""
        i = self.layers.index(layer)
        return self.base[i, head].astype(np.float32), self.tuned[i, head].astype(np.float32)


def _require_adapter(loaded: LoadedModel, adapter) -> adapters.AdapterInfo:
    if loaded.kind != "causal":
        raise InvalidSetting(f"{loaded.info.name} is an {loaded.kind} model; comparison needs a causal LM",
                             field="model")
    if adapter is None:
        raise InvalidSetting("choose an adapter to compare with the base", field="adapter")
    return resolve_adapter(adapter)


def side_by_side(loaded: LoadedModel, adapter, prompt: str, *, chat: bool = False, max_new_tokens: int = 48,
                 temperature: float = 0.8, top_p: float = 0.95, seed: int = 0,
                 progress: Progress = no_progress) -> SideBySide:
    """Greedy and sampled continuations of `prompt` by the base and by the adapter over it."""
    info = _require_adapter(loaded, adapter)
    greedy = SamplingParams(max_new_tokens=max_new_tokens)
    sampled = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    runs = [(None, greedy), (info, greedy), (None, sampled), (info, sampled)]
    out = []
    for i, (which, params) in enumerate(runs):
        progress(i / len(runs), f"{'adapter' if which else 'base'}, {params.label}")
        out.append(generate(loaded, prompt, params, chat=chat, seed=seed, adapter=which))
    return SideBySide(*out, adapter=info.name)


def logprob_shift(loaded: LoadedModel, adapter, generation: Generation, source: str) -> TokenShift:
    """Score the tokens of one generation under the base and under the adapter (one forward each)."""
    info = _require_adapter(loaded, adapter)
    if not generation.token_ids:
        raise InvalidSetting("the output has no tokens to score", field="output")
    prompt_ids, token_ids = list(generation.prompt_ids), list(generation.token_ids)
    sequence = [prompt_ids + token_ids]  # log p(token_i | prompt, tokens before i) for each continuation token
    with loaded.lock:
        (base,) = sequence_logprobs(loaded.model, sequence, len(prompt_ids))        # (N,) float64
    with adapters.use_adapter(loaded, info):  # holds loaded.lock
        (tuned,) = sequence_logprobs(loaded.model, sequence, len(prompt_ids))       # (N,)
    return TokenShift(tokens=token_labels(loaded.tokenizer, token_ids), token_ids=token_ids, logp_base=base,
                      logp_tuned=tuned, source=source)


def head_divergence(p: np.ndarray, q: np.ndarray, measure: str = "js", skip_first_row: bool = True) -> np.ndarray:
    """Mean over query rows of the distance between two attention distributions, per layer and head.

    p, q: (L, H, T, T), rows sum to 1. js: Jensen-Shannon distance (square root of the divergence in bits),
    tv: total variation (half the L1 distance); both lie in [0, 1]. Causal row 0 attends only to itself in
    both models, so it is skipped by default."""
    if measure not in MEASURES:
        raise InvalidSetting(f"unknown measure {measure!r}; choose from {', '.join(MEASURES)}", field="measure")
    out = np.zeros(p.shape[:2], dtype=np.float64)
    start = 1 if skip_first_row and p.shape[-2] > 1 else 0
    for layer in range(p.shape[0]):  # one layer at a time: float32 copies of (H, T, T) only
        a = p[layer, :, start:].astype(np.float32)
        b = q[layer, :, start:].astype(np.float32)
        if measure == "tv":
            rows = 0.5 * np.abs(a - b).sum(-1)  # (H, T')
        else:
            mid = 0.5 * (a + b)
            with np.errstate(divide="ignore", invalid="ignore"):
                kl_a = np.where(a > 0, a * np.log2(a / np.maximum(mid, 1e-30)), 0.0).sum(-1)
                kl_b = np.where(b > 0, b * np.log2(b / np.maximum(mid, 1e-30)), 0.0).sum(-1)
            rows = np.sqrt(np.clip(0.5 * (kl_a + kl_b), 0.0, 1.0))  # (H, T')
        out[layer] = rows.mean(-1)
    return out


def attention_diff(loaded: LoadedModel, adapter, text: str, *, measure: str = "js", max_tokens: int = 192,
                   chat: bool = False, layers: list[int] | None = None,
                   progress: Progress = no_progress) -> AttentionDiff:
    """Capture attention on `text` with the base, then with the adapter active, and measure per head how
    far the two maps are apart."""
    info = _require_adapter(loaded, adapter)

    def half(offset: float, label: str) -> Progress:
        return lambda f, msg: progress(offset + f / 2, f"{label}: {msg}")

    base = capture_attention(loaded, text, layers, max_tokens=max_tokens, chat=chat, progress=half(0, "base"))
    with adapters.use_adapter(loaded, info):
        tuned = capture_attention(loaded, text, layers, max_tokens=max_tokens, chat=chat,
                                  progress=half(0.5, info.name))
    return AttentionDiff(tokens=base.tokens, layers=list(base.layers), base=base.pattern, tuned=tuned.pattern,
                         divergence=head_divergence(base.pattern, tuned.pattern, measure), measure=measure,
                         adapter=info.name, truncated=base.truncated)
