"""Value-weighted attention checked against the layer itself: Σ_heads Σ_j α_ij f(x_j) must equal what the output
projection actually produced (without its bias), read by a hook on that projection in an ordinary forward pass.
That holds only if f(x_j) (value projection, GQA head sharing, the head's slice of W_O) is right."""

import numpy as np
import pytest
import torch

from workbench.attention.capture import capture_attention
from workbench.attention.value_weighted import value_norms, value_vectors, weighted

TEXT = "The cat sat on the mat. The cat was happy, so the cat purred."


def _output_projection_output(loaded, ids, projection) -> torch.Tensor:
    """What the layer's output projection wrote (T, D), bias removed, from a plain forward pass."""
    seen = {}
    handle = projection.register_forward_hook(lambda _m, _a, out: seen.setdefault("out", out[0].detach()))
    try:
        with torch.inference_mode():
            loaded.model(input_ids=torch.as_tensor(ids)[None], attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    finally:
        handle.remove()
    bias = projection.bias if projection.bias is not None else 0
    return (seen["out"] - bias).float()


@pytest.mark.parametrize("which, layer", [("smollm2", 3), ("minilm", 2)])
def test_heads_times_value_vectors_rebuild_the_output_projection(which, layer, request):
    loaded = request.getfixturevalue(which)
    if which == "smollm2":  # LoRA from an earlier test may wrap o_proj: read the base Linear
        projection = loaded.model.model.layers[layer].self_attn.o_proj
    else:
        projection = loaded.model.encoder.layer[layer].attention.output.dense
    projection = getattr(projection, "base_layer", projection)
    cap = capture_attention(loaded, TEXT, [layer])
    f = value_vectors(loaded, cap.input_ids, layer)                                 # (H, T, D)
    pattern = torch.as_tensor(cap.pattern[0].astype(np.float32))                     # (H, T, T)
    rebuilt = torch.einsum("hij,hjd->id", pattern, f)                                # (T, D)
    actual = _output_projection_output(loaded, cap.input_ids, projection)
    scale = actual.abs().max().item()
    assert torch.allclose(rebuilt, actual, atol=5e-3 * scale), (rebuilt - actual).abs().max().item() / scale
    assert f.shape[0] == loaded.info.heads  # one per query head, shared value heads repeated under GQA


def test_weighted_rows_sum_to_one_and_move_weight_off_small_value_keys(smollm2):
    cap = capture_attention(smollm2, TEXT, [5])
    norms = value_norms(smollm2, cap.input_ids, 5)                                   # (H, T)
    assert norms.shape == (smollm2.info.heads, cap.n_tokens) and (norms > 0).all()
    raw = cap.head(5, 0)
    vw = weighted(raw, norms[0])
    visible = np.tril(np.ones_like(raw, dtype=bool))
    assert np.allclose(vw.sum(-1), 1, atol=1e-5) and (vw[~visible] == 0).all()       # causal mask kept
    sink = np.argmin(norms[0])  # the key with the smallest value vector loses share in every row that sees it
    rows = np.arange(sink + 1, cap.n_tokens)
    assert (vw[rows, sink] <= raw[rows, sink] + 1e-6).all()
