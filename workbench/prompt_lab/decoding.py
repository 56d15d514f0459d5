"""Sampling settings, the logits processors one by one, and a lean decode loop with a pre-allocated KV cache."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from workbench.errors import InvalidSetting
from workbench.models import LoadedModel
from workbench.models.batching import position_ids
from workbench.models.rotary import apply_rotary

# Architectures whose decoder layer is Llama-shaped (norm -> q/k/v -> rope -> attention -> o; norm -> gated MLP);
# others run through the model's own forward, one step at a time.
LEAN_MODEL_TYPES = ("llama", "mistral", "qwen2")


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


def pick_tokens(logits: torch.Tensor, context: torch.Tensor, params: SamplingParams,
                generators: list[torch.Generator] | None) -> torch.Tensor:
    """The next token per row (B,): argmax when greedy, else one draw per row from that row's generator."""
    scores = process_logits(logits.float(), context, params)
    if params.greedy:
        return scores.argmax(-1)
    probs = scores.softmax(-1)
    return torch.cat([torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(generators)])


def seeded_generators(seeds: list[int], device: torch.device) -> list[torch.Generator]:
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]


# ---- the decode loop ----

def stop_token_ids(loaded: LoadedModel) -> set[int]:
    """End-of-sequence ids from the generation config (may be a list) and the tokenizer."""
    eos = getattr(getattr(loaded.model, "generation_config", None), "eos_token_id", None)
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    if loaded.tokenizer.eos_token_id is not None:
        ids.add(loaded.tokenizer.eos_token_id)
    return ids


class _KVCache:
    """Pre-allocated keys and values for every layer: (B, kv_heads, capacity, head_dim), filled left to right."""

    def __init__(self, prefill, capacity: int) -> None:
        self.keys, self.values = [], []
        for layer in prefill.layers:
            k, v = layer.keys, layer.values  # (B, kv_heads, T, head_dim)
            shape = (k.shape[0], k.shape[1], capacity, k.shape[3])
            self.keys.append(k.new_empty(shape))
            self.values.append(v.new_empty(shape))
            self.keys[-1][:, :, :k.shape[2]] = k
            self.values[-1][:, :, :v.shape[2]] = v
        self.length = prefill.layers[0].keys.shape[2]


def _lean_step(model, cache: _KVCache, tokens: torch.Tensor, positions: torch.Tensor,
               mask: torch.Tensor | None) -> torch.Tensor:
    """One decode step through Llama-shaped layers with the model's own modules (LoRA-aware): (B,) -> (B, vocab).

    The same operations as the transformers sdpa path, without its per-step mask, cache and dispatch overhead.
    """
    core = model.model
    hidden = core.embed_tokens(tokens[:, None])  # (B, 1, hidden)
    cos, sin = core.rotary_emb(hidden, positions[:, None])  # (B, 1, head_dim)
    cos, sin = cos[:, None], sin[:, None]  # (B, 1, 1, head_dim): broadcast over heads
    t = cache.length
    batch = tokens.shape[0]
    for index, layer in enumerate(core.layers):
        attn = layer.self_attn
        x = layer.input_layernorm(hidden)
        q = attn.q_proj(x).view(batch, 1, -1, attn.head_dim).transpose(1, 2)  # (B, heads, 1, hd)
        k = attn.k_proj(x).view(batch, 1, -1, attn.head_dim).transpose(1, 2)  # (B, kv_heads, 1, hd)
        v = attn.v_proj(x).view(batch, 1, -1, attn.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        keys, values = cache.keys[index], cache.values[index]
        keys[:, :, t:t + 1] = k
        values[:, :, t:t + 1] = v
        keys, values = keys[:, :, :t + 1], values[:, :, :t + 1]
        groups = attn.num_key_value_groups
        if mask is None:
            out = F.scaled_dot_product_attention(q, keys, values, scale=attn.scaling, enable_gqa=groups > 1)
        else:  # one query per head: fold the heads sharing a kv head into the query axis, as transformers does
            packed = q.reshape(batch, -1, groups, attn.head_dim)  # (B, kv_heads, groups, hd)
            out = F.scaled_dot_product_attention(packed, keys, values, attn_mask=mask, scale=attn.scaling)
        out = out.reshape(batch, -1, 1, attn.head_dim).transpose(1, 2).reshape(batch, 1, -1)  # (B, 1, heads*hd)
        hidden = hidden + attn.o_proj(out)
        hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
    cache.length = t + 1
    return model.lm_head(core.norm(hidden))[:, 0]  # (B, vocab)


def lean_supported(loaded: LoadedModel) -> bool:
    """Whether the lean step applies: a Llama-shaped causal model running sdpa or eager attention."""
    config = loaded.model.config
    core = getattr(loaded.model, "model", None)
    return (getattr(config, "model_type", "") in LEAN_MODEL_TYPES and core is not None
            and hasattr(core, "rotary_emb") and hasattr(loaded.model, "lm_head")
            and getattr(config, "rope_parameters", {}).get("rope_type", "default") == "default")


def decode(loaded: LoadedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor, params: SamplingParams,
           generators: list[torch.Generator] | None = None, *, lean: bool | None = None) -> Iterator[torch.Tensor]:
    """Yield the next token of every row, (B,), step by step, until all rows stop or max_new_tokens.

    Rows that finished keep yielding the pad id. Caller holds `loaded.lock` and inference mode.
    """
    from transformers import DynamicCache

    model = loaded.model
    device = loaded.device
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    batch, width = input_ids.shape
    stops = torch.tensor(sorted(stop_token_ids(loaded)), device=device)
    pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else int(stops[0])
    use_lean = lean_supported(loaded) if lean is None else lean
    positions = position_ids(attention_mask)  # (B, T): left padding shifts each row's positions
    prefill = DynamicCache(config=model.config)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                   past_key_values=prefill, use_cache=True, logits_to_keep=1).logits[:, -1]  # (B, vocab)
    padded = bool((attention_mask == 0).any())
    cache = _KVCache(prefill, width + params.max_new_tokens) if use_lean else None
    context = input_ids
    position = positions[:, -1]
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    mask_row = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T): what each row may attend to
    for step in range(params.max_new_tokens):
        token = pick_tokens(logits, context, params, generators)
        token = torch.where(done, torch.full_like(token, pad_id), token)
        yield token
        done = done | torch.isin(token, stops)
        if bool(done.all()) or step == params.max_new_tokens - 1:
            return
        context = torch.cat([context, token[:, None]], dim=1)
        position = position + 1
        mask_row = F.pad(mask_row, (0, 1), value=True)
        if use_lean:
            logits = _lean_step(model, cache, token, position, mask_row if padded else None)
        else:
            attention_mask = F.pad(attention_mask, (0, 1), value=1)
            logits = model(input_ids=token[:, None], attention_mask=attention_mask, position_ids=position[:, None],
                           past_key_values=prefill, use_cache=True).logits[:, -1]
