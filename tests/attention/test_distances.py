"""Distance histograms: the bins, and the block-by-block cumulative-sum version against a direct count on maps."""

import numpy as np
import pytest
import torch

from workbench.attention.distances import bin_labels, distance_edges, histogram_of_maps, histogram_of_rows


def test_distance_bins_are_log_spaced_and_cover_every_distance():
    assert distance_edges(1).tolist() == [0, 1]
    assert distance_edges(2).tolist() == [0, 1, 2]
    assert distance_edges(100).tolist() == [0, 1, 2, 4, 8, 16, 32, 64, 128]
    assert bin_labels(distance_edges(9)) == ["0", "1", "2-3", "4-7", "8-15"]


def _direct(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each (query, key) weight added to its distance bin, one by one."""
    h, t, _ = p.shape
    out = np.zeros((h, len(edges) - 1))
    for q in range(t):
        for k in range(t):
            out[:, np.searchsorted(edges, abs(q - k), side="right") - 1] += p[:, q, k]
    return out


@pytest.mark.parametrize("causal", [True, False])
def test_block_histograms_add_up_to_the_direct_count(causal):
    torch.manual_seed(0)
    h, t, rows = 3, 23, 5
    scores = torch.randn(h, t, t)
    if causal:
        scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    p = torch.softmax(scores, -1)
    edges = distance_edges(t)
    want = _direct(p.numpy(), edges)
    np.testing.assert_allclose(histogram_of_maps(p, edges), want, atol=1e-6)
    got = torch.zeros(h, len(edges) - 1, dtype=torch.float64)
    for start in range(0, t, rows):
        end = min(t, start + rows)
        block = p[:, start:end, :end if causal else t].contiguous()
        got += histogram_of_rows(block, start, edges, causal, torch.empty_like(block))
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(got.sum(-1), t, rtol=1e-6)
