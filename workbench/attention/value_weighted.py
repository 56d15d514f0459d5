"""Value-weighted attention (Kobayashi et al., 2020, "Attention is not only a weight"): what each key token
sends to a query through one head is α_ij · f(x_j), with f(x_j) = W_O^h (W_V^h x_j + b_V^h) the key's value
vector carried through the head's slice of the output projection. Raw weights overstate keys whose f(x_j) is
small (the first-token "sink" above all); weighting each α_ij by ‖f(x_j)‖ corrects for it.

Read from the layer's own modules (Llama-style v_proj/o_proj with grouped-query attention, BERT-style
value/output.dense), on the hidden states that enter the attention module."""

from __future__ import annotations

import numpy as np
import torch

from workbench.attention.capture import check_layers
from workbench.attention.hooks import UnsupportedAttention, attention_modules
from workbench.attention.row_math import attention_inputs
from workbench.models import LoadedModel


def _output_projection(model: torch.nn.Module, module: torch.nn.Module) -> torch.nn.Linear:
    """The Linear that maps the concatenated heads back to the residual stream."""
    if hasattr(module, "o_proj"):
        return module.o_proj
    for parent in model.modules():  # BERT: BertAttention holds .self (this module) and .output.dense
        if getattr(parent, "self", None) is module and hasattr(getattr(parent, "output", None), "dense"):
            return parent.output.dense
    raise UnsupportedAttention(f"no output projection found for {type(module).__name__}", field="model")


def value_vectors(loaded: LoadedModel, ids: np.ndarray, layer: int) -> torch.Tensor:
    """f(x_j) per query head and token: (H, T, D) float32, the output projection's bias left out (it is added
    once per position, not per key)."""
    layer = check_layers(loaded.info.layers, [layer])[0]
    module = attention_modules(loaded.model)[layer]
    value = module.v_proj if hasattr(module, "v_proj") else getattr(module, "value", None)
    if value is None:
        raise UnsupportedAttention(f"{type(module).__name__} has no value projection", field="model")
    out = _output_projection(loaded.model, module)
    hidden = attention_inputs(loaded, module, ids)["hidden"][0]                      # (T, D)
    d = int(getattr(module, "head_dim", None) or module.attention_head_size)
    with torch.inference_mode():
        v = value(hidden).float()                                                  # (T, Hkv * d)
        t = v.shape[0]
        v = v.view(t, -1, d).transpose(0, 1)                                       # (Hkv, T, d)
        w = out.weight.float()                                                     # (D, H * d)
        heads = w.shape[1] // d
        v = v.repeat_interleave(heads // v.shape[0], dim=0)                        # (H, T, d): GQA groups
        w = w.view(w.shape[0], heads, d).permute(1, 2, 0)                          # (H, d, D)
        return torch.bmm(v, w)                                                     # (H, T, D)


def value_norms(loaded: LoadedModel, ids: np.ndarray, layer: int) -> np.ndarray:
    """‖f(x_j)‖ per head and key token: (H, T) float32."""
    return value_vectors(loaded, ids, layer).norm(dim=-1).numpy()


def weighted(pattern: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """A (T, T) map of one head with each key column scaled by its ‖f(x_j)‖ (T,), rows rescaled to sum to 1 so
    it reads like attention: the share of what reaches the query that comes from each key."""
    scaled = pattern.astype(np.float32) * norms[None, :].astype(np.float32)
    return scaled / np.maximum(scaled.sum(-1, keepdims=True), 1e-12)
