"""Sampling settings, the logits processors one by one, and decoding through transformers' own `generate`:
one seeded draw per row (a cell's sample does not depend on its batch), repetition penalty blind to padding."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import torch

from workbench.errors import InvalidSetting
from workbench.models import LoadedModel
from workbench.models.batching import padding_id


class InvalidSampling(InvalidSetting):
    """A sampling value is out of range."""


@dataclass(frozen=True)
class SamplingParams:
    """How to pick each next token; temperature 0 means greedy (argmax)."""

    max_new_tokens: int = field(default=64, metadata={"help": "Tokens to generate at most (1..4096)."})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy; higher flattens the distribution."})
    top_k: int = field(default=0, metadata={"help": "Keep only the k most likely tokens (0 = off)."})
    top_p: float = field(default=1.0, metadata={"help": "Keep the smallest set with this much mass (1 = off)."})
    repetition_penalty: float = field(
        default=1.0, metadata={"help": "Divide logits of tokens already seen (1 = off; CTRL paper's 1.2)."})
    name: str = field(default="", metadata={"help": "A label for this parameter set in a grid."})

    def __post_init__(self) -> None:
        checks = [
            ("max_new_tokens", isinstance(self.max_new_tokens, int) and 1 <= self.max_new_tokens <= 4096,
             "an integer from 1 to 4096"),
            ("temperature", _number(self.temperature) and 0 <= self.temperature <= 100, "a number from 0 to 100"),
            ("top_k", isinstance(self.top_k, int) and self.top_k >= 0, "an integer >= 0 (0 = off)"),
            ("top_p", _number(self.top_p) and 0 < self.top_p <= 1, "a number in (0, 1]"),
            ("repetition_penalty", _number(self.repetition_penalty) and 0 < self.repetition_penalty <= 10,
             "a number in (0, 10]"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise InvalidSampling(f"`{name}` must be {expected}, got {getattr(self, name)!r}", field=name)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.greedy:
            return "greedy" + (f" rp={self.repetition_penalty:g}" if self.repetition_penalty != 1 else "")
        parts = [f"T={self.temperature:g}"] + ([f"k={self.top_k}"] if self.top_k else []) + \
            ([f"p={self.top_p:g}"] if self.top_p < 1 else []) + \
            ([f"rp={self.repetition_penalty:g}"] if self.repetition_penalty != 1 else [])
        return " ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


# ---- logits processors: (B, vocab) -> (B, vocab), the same semantics as transformers' ----

def apply_repetition_penalty(logits: torch.Tensor, context: torch.Tensor, penalty: float) -> torch.Tensor:
    """Make tokens already in `context` (B, T) less likely: divide positive logits, multiply negative ones."""
    if penalty == 1:
        return logits
    seen = torch.gather(logits, 1, context)
    seen = torch.where(seen < 0, seen * penalty, seen / penalty)
    return logits.scatter(1, context, seen)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return logits if temperature in (0, 1) else logits / temperature


def apply_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits per row, -inf elsewhere."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def apply_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability reaches p (always at least one)."""
    if p >= 1:
        return logits
    sorted_logits, order = torch.sort(logits, descending=False)
    cumulative = sorted_logits.softmax(-1).cumsum(-1)
    remove_sorted = cumulative <= (1 - p)
    remove_sorted[..., -1:] = False
    remove = remove_sorted.scatter(1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def process_logits(logits: torch.Tensor, context: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """All processors in generate's order: repetition penalty, temperature, top-k, top-p."""
    logits = apply_repetition_penalty(logits, context, params.repetition_penalty)
    if params.greedy:
        return logits
    logits = apply_temperature(logits, params.temperature)
    return apply_top_p(apply_top_k(logits, params.top_k), params.top_p)


class SeededSampler:
    """A transformers logits processor: repetition penalty (pads excluded), then, when sampling, temperature,
    top-k and top-p and one draw per row from that row's own generator; returns scores where only the drawn
    token is finite, so `generate`'s greedy pick takes it."""

    def __init__(self, params: SamplingParams, pads: torch.Tensor, seeds: list[int] | None) -> None:
        self.params = params
        self.pads = pads  # (B,) left-padding width of each row
        device = pads.device
        self.generators = None if params.greedy else [
            torch.Generator(device=device).manual_seed(int(s)) for s in (seeds or [0] * len(pads))]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = process_logits(scores.float(), self._unpadded(input_ids), self.params)  # (B, vocab)
        if self.params.greedy:
            return scores
        probs = scores.softmax(-1)
        drawn = torch.cat([torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(self.generators)])
        return torch.full_like(scores, float("-inf")).scatter(1, drawn[:, None], 0.0)

    def _unpadded(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids with each row's padding replaced by its first real token: penalties see only real tokens."""
        columns = torch.arange(input_ids.shape[1], device=input_ids.device)[None]  # (1, T)
        first = input_ids.gather(1, self.pads[:, None])                            # (B, 1)
        return torch.where(columns < self.pads[:, None], first, input_ids)


class StopFlag:
    """A transformers stopping criterion that ends every row once `set()` is called (from any thread)."""

    def __init__(self) -> None:
        import threading

        self.event = threading.Event()

    def set(self) -> None:
        self.event.set()

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def stop_token_ids(loaded: LoadedModel) -> set[int]:
    """End-of-sequence ids from the generation config (may be a list) and the tokenizer."""
    eos = getattr(getattr(loaded.model, "generation_config", None), "eos_token_id", None)
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    if loaded.tokenizer.eos_token_id is not None:
        ids.add(loaded.tokenizer.eos_token_id)
    return ids


def generate_tokens(loaded: LoadedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    params: SamplingParams, seeds: list[int] | None = None, *, model=None, streamer=None,
                    stop: StopFlag | None = None) -> torch.Tensor:
    """New tokens of a left-padded batch (B, T) -> (B, N <= max_new_tokens) with transformers' `generate`.

    Rows that stopped early are filled with the pad id. Caller holds `loaded.lock`; `model` overrides
    `loaded.model` (a quantised copy).
    """
    from transformers import LogitsProcessorList, StoppingCriteriaList

    device = loaded.device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    pads = (attention_mask == 0).sum(-1)  # (B,)
    processors = [] if params.greedy and params.repetition_penalty == 1 else [SeededSampler(params, pads, seeds)]
    with torch.inference_mode():
        out = (model or loaded.model).generate(
            input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=params.max_new_tokens,
            do_sample=False, repetition_penalty=1.0, pad_token_id=padding_id(loaded.tokenizer),
            eos_token_id=sorted(stop_token_ids(loaded)), logits_processor=LogitsProcessorList(processors),
            stopping_criteria=StoppingCriteriaList([stop] if stop else []), streamer=streamer)
    return out[:, input_ids.shape[1]:]


def decode(loaded: LoadedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor, params: SamplingParams,
           seeds: list[int] | None = None) -> Iterator[torch.Tensor]:
    """The next token of every row, (B,), step by step (rows that stopped give the pad id); see `generate_tokens`."""
    with loaded.lock:
        return iter(generate_tokens(loaded, input_ids, attention_mask, params, seeds).T)
