"""The math behind one row of an attention map: softmax(q·kᵀ/√d_k) recomputed from a layer's own projections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from workbench.attention.capture import AttentionCapture, check_head, check_layers
from workbench.attention.hooks import StopForward, UnsupportedAttention, attention_modules
from workbench.errors import InvalidSetting
from workbench.models import LoadedModel
from workbench.models.rotary import apply_rotary


@dataclass(frozen=True, eq=False)
class RowMath:
    """One query row of one head, every intermediate value of the textbook formula."""

    layer: int
    head: int
    kv_head: int            # key/value head this query head reads (grouped-query attention)
    query: int              # query token position
    head_dim: int           # d_k
    rotary: bool            # rotary position embedding applied to q and k
    q: np.ndarray           # (d_k,) query vector of the token
    keys: np.ndarray        # (T, d_k) key vectors
    scale: float            # 1/sqrt(d_k) (the layer's own scaling)
    scores: np.ndarray      # (T,) q·k * scale before the mask
    visible: np.ndarray     # (T,) bool: False where the causal mask hides the key
    weights: np.ndarray     # (T,) softmax over the visible scores

    def table(self, keys: np.ndarray, key_labels: list[str], captured: np.ndarray) -> pd.DataFrame:
        """One row per key in `keys`: q·k, the scaled score, the mask, the weight and `captured` (the same row as
        the capture recorded it), to read beside the formula."""
        return pd.DataFrame({"key": key_labels, "q·k": (self.keys @ self.q)[keys], "score": self.scores[keys],
                             "masked": ~self.visible[keys], "weight": self.weights[keys], "captured": captured[keys]})


def attention_inputs(loaded: LoadedModel, module: torch.nn.Module, ids: np.ndarray) -> dict:
    """Hidden states (1, T, D) and keyword inputs entering one attention module; stops the pass there."""
    seen: dict = {}

    def grab(_module, args, kwargs):
        seen["hidden"] = args[0] if args else kwargs["hidden_states"]
        seen["position_embeddings"] = kwargs.get("position_embeddings")
        raise StopForward

    input_ids = torch.as_tensor(ids, device=loaded.device)[None]
    with loaded.lock:  # the hook goes on the shared model only while no other tab can run it
        handle = module.register_forward_pre_hook(grab, with_kwargs=True)
        try:
            with torch.inference_mode():
                loaded.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
        except StopForward:
            pass
        finally:
            handle.remove()
    return seen


def layer_query_keys(loaded: LoadedModel, ids: np.ndarray,
                     layer: int) -> tuple[torch.Tensor, torch.Tensor, bool, float]:
    """(q (H, T, d), k (Hkv, T, d), rotary applied, score scale) of one layer, float32, from its projections."""
    layer = check_layers(loaded.info.layers, [layer])[0]
    module = attention_modules(loaded.model)[layer]
    inputs = attention_inputs(loaded, module, ids)
    h = inputs["hidden"][0].float()                                     # (T, D)
    t = h.shape[0]
    if hasattr(module, "q_proj"):
        project_q, project_k = module.q_proj, module.k_proj
    elif hasattr(module, "query"):
        project_q, project_k = module.query, module.key
    else:
        raise UnsupportedAttention(f"{type(module).__name__} has no q/k projections", field="model")
    d = int(getattr(module, "head_dim", None) or module.attention_head_size)
    with torch.inference_mode():
        q = project_q(h.to(next(module.parameters()).dtype)).float().view(t, -1, d).transpose(0, 1)  # (H, T, d)
        k = project_k(h.to(next(module.parameters()).dtype)).float().view(t, -1, d).transpose(0, 1)  # (Hkv, T, d)
        rotary = inputs.get("position_embeddings") is not None
        if rotary:
            cos, sin = (x[0].float() for x in inputs["position_embeddings"])  # (T, d) each
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    return q, k, rotary, float(getattr(module, "scaling", None) or d ** -0.5)


def row_math(loaded: LoadedModel, capture: AttentionCapture, layer: int, head: int, query: int) -> RowMath:
    """Every number of softmax(q·kᵀ/√d_k) for one head and query token, from the layer's projections."""
    check_head(loaded.info.heads, head)
    if not 0 <= query < capture.n_tokens:
        raise InvalidSetting(f"query token {query} is out of range 0..{capture.n_tokens - 1}", field="query")
    q, k, rotary, scale = layer_query_keys(loaded, capture.input_ids, layer)
    kv_head = head // (q.shape[0] // k.shape[0])
    d = q.shape[-1]
    qv = q[head, query]                                                 # (d,)
    keys = k[kv_head]                                                   # (T, d)
    scores = (keys @ qv) * scale                                        # (T,), scale = 1/sqrt(d_k)
    visible = torch.ones_like(scores, dtype=torch.bool)
    if capture.causal:
        visible[query + 1:] = False
    weights = torch.softmax(scores.masked_fill(~visible, float("-inf")), -1)
    return RowMath(layer=layer, head=head, kv_head=kv_head, query=query, head_dim=d, rotary=rotary,
                   scale=scale, q=qv.numpy(), keys=keys.numpy(), scores=scores.numpy(), visible=visible.numpy(),
                   weights=weights.numpy())
