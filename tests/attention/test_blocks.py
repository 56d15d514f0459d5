"""Query blocks against a dense softmax written out here: grouped-query heads, every form a mask reaches the
attention function in (none with a causal layer, keep-booleans, additive floats), a ragged last block."""

import numpy as np
import pytest
import torch

from workbench.attention.blocks import Workspace, attention_blocks, block_rows

H, KV, T, D, SCALE = 6, 2, 13, 8, 0.3


def _dense(q: torch.Tensor, k: torch.Tensor, hidden: torch.Tensor | None) -> torch.Tensor:
    keys = k[0].repeat_interleave(H // KV, 0)                                 # query head i reads kv head i // 3
    scores = q[0] @ keys.transpose(1, 2) * SCALE                               # (H, T, T)
    if hidden is not None:
        scores = scores.masked_fill(hidden, float("-inf"))
    return torch.softmax(scores, -1)


def _blocked(q, k, mask, causal: bool, rows: int = 5) -> torch.Tensor:
    out = torch.zeros(H, T, T)
    space = Workspace(H * rows * T)
    for start, p, logp in attention_blocks(q, k, SCALE, mask, causal, rows, space):
        out[:, start:start + p.shape[1], :p.shape[2]] = p
        np.testing.assert_allclose(logp.exp(), p, rtol=1e-5)
    return out


@pytest.mark.parametrize("form", ["none", "bool", "float"])
def test_blocks_equal_dense_causal_softmax_whatever_the_mask_form(form):
    torch.manual_seed(0)
    q, k = torch.randn(1, H, T, D), torch.randn(1, KV, T, D)
    later = torch.ones(T, T, dtype=torch.bool).triu(1)                        # (T, T) keys after the query
    mask = {"none": None, "bool": ~later[None, None],
            "float": torch.zeros(T, T).masked_fill(later, torch.finfo(torch.float32).min)[None, None]}[form]
    got = _blocked(q, k, mask, causal=True)
    np.testing.assert_allclose(got, _dense(q, k, later), atol=1e-6)
    assert torch.all(got[:, later] == 0)


def test_blocks_of_an_encoder_see_every_key_and_padding_is_hidden():
    torch.manual_seed(1)
    q, k = torch.randn(1, H, T, D), torch.randn(1, KV, T, D)
    np.testing.assert_allclose(_blocked(q, k, None, causal=False), _dense(q, k, None), atol=1e-6)
    keep = torch.ones(1, 1, 1, T, dtype=torch.bool)
    keep[..., -3:] = False                                                     # three padded keys
    hidden = ~keep[0, 0].expand(T, T)
    np.testing.assert_allclose(_blocked(q, k, keep, causal=False), _dense(q, k, hidden), atol=1e-6)


def test_block_rows_stay_within_the_budget():
    assert block_rows(9, 2048) == 256 and block_rows(9, 8192) * 9 * 8192 <= 2 ** 23
    assert block_rows(9, 8192, budget=10) == 1


@pytest.mark.parametrize("causal", [True, False])
def test_a_spans_overview_from_its_rows_alone_equals_the_block_mean_of_the_dense_sub_matrix(causal):
    from workbench.attention.blocks import LayerReduction
    from workbench.attention.capture import downsample_torch

    torch.manual_seed(2)
    q, k = torch.randn(1, H, T, D), torch.randn(1, KV, T, D)
    dense = _dense(q, k, torch.ones(T, T, dtype=torch.bool).triu(1) if causal else None)
    first, end = 3, 11
    edges = np.array([3, 5, 8, 11])
    space = Workspace(H * 5 * T)
    red = LayerReduction(H, T, space, causal=causal, edges=edges, keep_maps=False, focus=[], statistics=False)
    rows = []
    for start, p, logp in attention_blocks(q, k, SCALE, None, causal, 5, space, (first, end)):
        rows.append((start, p.shape[1]))
        red.add(start, p, logp)
    assert rows == [(3, 5), (8, 3)]                                            # only the span's query rows
    want = downsample_torch(dense[:, first:end, first:end], edges - first)
    np.testing.assert_allclose(red.overview().astype(np.float32), want, atol=1e-3)
