"""How attention weights are read out of a Hugging Face model: find each layer's attention module, make only
the captured layers compute weights (eager) while the rest run sdpa, or hand a layer's rotated q and k to a block
reader while everything runs sdpa, and stop the pass early."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

import torch

from workbench import models
from workbench.errors import InvalidSetting
from workbench.models import LoadedModel


class UnsupportedAttention(InvalidSetting):
    """The model's attention modules cannot be found or do not return weights."""


def attention_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """One module per layer that computes that layer's attention weights (Llama-style and BERT-style)."""
    found: dict[int, torch.nn.Module] = {}
    ordered: list[torch.nn.Module] = []
    for _, module in model.named_modules():
        has_projections = (hasattr(module, "q_proj") and hasattr(module, "k_proj")) or (
            hasattr(module, "query") and hasattr(module, "key"))
        if not has_projections:
            continue
        idx = getattr(module, "layer_idx", None)
        if idx is not None and idx not in found:
            found[int(idx)] = module
        ordered.append(module)
    if found and len(found) == len(ordered):
        return [found[i] for i in sorted(found)]
    if ordered:  # layer_idx missing (older BERT code): model order is layer order
        return ordered
    raise UnsupportedAttention(f"no attention modules with query/key projections found in "
                               f"{type(model).__name__}", field="model")


class StopForward(Exception):
    """Raised by a hook once every requested layer is captured: later layers cannot change them."""


# (module, query (1, H, T, d), key (1, Hkv, T, d), mask as the attention function got it, scaling or None)
BlockReader = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor | None, float | None], None]
CAPTURE_IMPLEMENTATION = "workbench_capture"  # sdpa, eager in layers whose weights a capture reads


def _additive_mask(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                   mask: torch.Tensor | None) -> torch.Tensor | None:
    """The sdpa-style mask (None = causal or none, bool = keep) as eager's additive float mask."""
    if mask is not None and mask.dtype != torch.bool:
        return mask
    tq, tk = query.shape[-2], key.shape[-2]
    if mask is None:
        if not getattr(module, "is_causal", False) or tq == 1:
            return None
        mask = torch.ones(tq, tk, dtype=torch.bool, device=query.device).tril(tk - tq)[None, None]
    return torch.zeros(mask.shape, dtype=query.dtype, device=query.device).masked_fill(
        ~mask, torch.finfo(query.dtype).min)


def _capture_attention_forward(module, query, key, value, attention_mask, **kwargs):
    """Dispatch per layer: the model's own eager attention (weights returned) where a capture wants them,
    sdpa (fast, no weights) elsewhere; a layer read in query blocks hands its rotated q and k to its reader first."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    reader = getattr(module, "_workbench_blocks", None)
    if reader is not None:
        reader(module, query, key, attention_mask, kwargs.get("scaling"))
    if not getattr(module, "_workbench_capture", False):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    eager = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
    if eager is None:
        raise UnsupportedAttention(f"{type(module).__module__} has no eager attention to read weights from",
                                   field="model")
    kwargs.pop("is_causal", None)
    return eager(module, query, key, value, _additive_mask(module, query, key, attention_mask), **kwargs)


def _register_capture_implementation() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    if CAPTURE_IMPLEMENTATION not in AttentionInterface():  # a fresh instance reads the library-wide mapping
        AttentionInterface.register(CAPTURE_IMPLEMENTATION, _capture_attention_forward)
        ALL_MASK_ATTENTION_FUNCTIONS.register(CAPTURE_IMPLEMENTATION, sdpa_mask)


@contextlib.contextmanager
def _marked(modules: list[torch.nn.Module], marks: dict[int, object], name: str):
    """Set attribute `name` on the modules of the marked layers for a block, removed afterwards whatever happens."""
    for i, value in marks.items():
        setattr(modules[i], name, value)
    try:
        yield
    finally:
        for i in marks:
            modules[i].__dict__.pop(name, None)


@contextlib.contextmanager
def _capture_implementation(loaded: LoadedModel) -> Iterator[bool]:
    """The model on CAPTURE_IMPLEMENTATION for a block; yields False (the model left as it was) when it cannot
    switch implementation."""
    _register_capture_implementation()
    before = loaded.model.config._attn_implementation
    try:
        loaded.model.set_attn_implementation(CAPTURE_IMPLEMENTATION)
        switched = loaded.model.config._attn_implementation == CAPTURE_IMPLEMENTATION
    except (ValueError, KeyError, ImportError):
        switched = False
    if not switched:
        loaded.model.set_attn_implementation(before)
        yield False
        return
    try:
        yield True
    finally:
        loaded.model.set_attn_implementation(before)


@contextlib.contextmanager
def weights_from_layers(loaded: LoadedModel, modules: list[torch.nn.Module], layers: set[int]):
    """Run a block where only `layers` compute attention weights (eager) and the rest use sdpa; falls back
    to eager everywhere for models that cannot switch implementation."""
    with loaded.lock, _marked(modules, dict.fromkeys(layers, True), "_workbench_capture"), \
            _capture_implementation(loaded) as switched:
        if switched:
            yield
        else:  # model without the attention interface: eager everywhere (slower, same maps)
            with models.attention_implementation(loaded, "eager"):
                yield


@contextlib.contextmanager
def blocks_from_layers(loaded: LoadedModel, modules: list[torch.nn.Module], readers: dict[int, BlockReader]):
    """Run a block on sdpa everywhere where each layer in `readers` first hands its reader the rotated q and k
    its attention sees; raises UnsupportedAttention (before running anything) for models that cannot switch."""
    with loaded.lock, _marked(modules, readers, "_workbench_blocks"), _capture_implementation(loaded) as switched:
        if not switched:
            raise UnsupportedAttention(f"{type(loaded.model).__name__} cannot switch attention implementation, so "
                                       "its queries and keys cannot be read in blocks", field="model")
        yield


_NO_CACHE = {"use_cache": False}   # a capture pass never decodes on: no key/value cache to fill


def run_hooked(loaded: LoadedModel, ids: list[int], attach: Callable[[], list],
               implementation: contextlib.AbstractContextManager) -> None:
    """One forward pass of `ids` under the model lock, inside `implementation`, with the hooks `attach` adds
    (removed afterwards whatever happens); a hook raising StopForward ends the pass early."""
    input_ids = torch.tensor([ids], device=loaded.device)              # (1, T)
    with loaded.lock:
        handles = attach()
        try:
            with implementation, torch.inference_mode():
                try:
                    loaded.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **_NO_CACHE)
                except StopForward:
                    pass
        finally:
            for h in handles:
                h.remove()
