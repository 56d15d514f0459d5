"""How far each head looks: a histogram per head of |query - key| weighted by attention, over fixed log-spaced
bins (0, 1, 2-3, 4-7, ...), from full maps or folded in query block by query block without a full map."""

from __future__ import annotations

import numpy as np
import torch


def distance_edges(tokens: int) -> np.ndarray:
    """Bin edges [0, 1, 2, 4, ..., 2^m] with 2^m >= tokens: bin b holds distances edges[b]..edges[b + 1] - 1."""
    top = int(max(tokens - 1, 0)).bit_length()                       # 2^top > the largest distance, tokens - 1
    return np.array([0, *(2 ** i for i in range(top + 1))], dtype=np.int64)


def bin_labels(edges: np.ndarray) -> list[str]:
    """"0", "1", "2-3", "4-7", ... one per bin."""
    return [str(a) if b - a == 1 else f"{a}-{b - 1}" for a, b in zip(edges[:-1].tolist(), edges[1:].tolist())]


def histogram_of_maps(p: torch.Tensor, edges: np.ndarray) -> torch.Tensor:
    """(H, bins) float64: attention of row-stochastic maps (H, T, T) summed per distance bin over every query row
    (each head's histogram sums to T)."""
    t = p.shape[-1]
    idx = torch.arange(t, device=p.device)
    distance = (idx[:, None] - idx[None, :]).abs()                                      # (T, T)
    which = torch.bucketize(distance, torch.as_tensor(edges[1:], device=p.device), right=True).flatten()  # (T*T,)
    out = torch.zeros(p.shape[0], len(edges) - 1, dtype=torch.float64, device=p.device)
    for head, ph in enumerate(p):  # one head at a time: a float64 copy of one map, not of all
        out[head].index_add_(0, which, ph.flatten().double())
    return out.cpu()


def _span_sums(cs: torch.Tensor, first: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Sums of keys first..last (inclusive, (B, bins) each; empty where last < first) from cumulative sums
    cs (H, B, K) -> (H, B, bins)."""
    h, b, k = cs.shape
    first, last = first.clamp_min(0), last.clamp_max(k - 1)
    upper = cs.gather(-1, last.clamp_min(0).expand(h, b, -1))
    lower = cs.gather(-1, (first - 1).clamp(0, k - 1).expand(h, b, -1)) * (first > 0)
    return (upper - lower) * (last >= first)


def histogram_of_rows(p: torch.Tensor, start: int, edges: np.ndarray, causal: bool,
                      scratch: torch.Tensor) -> torch.Tensor:
    """(H, bins) float64: `histogram_of_maps` of one query block, probabilities p (H, B, K) of rows
    start..start + B over keys 0..K-1; a cumulative sum over keys (into `scratch`) turns each bin into two
    lookups per row, so the cost is one pass over the block."""
    h, b, _ = p.shape
    cs = torch.cumsum(p, -1, out=scratch)                                              # (H, B, K)
    query = torch.arange(start, start + b, device=p.device)[:, None]                  # (B, 1)
    lo = torch.as_tensor(edges[:-1], device=p.device)[None, :]                        # (1, bins)
    hi = torch.as_tensor(edges[1:], device=p.device)[None, :]
    sums = _span_sums(cs, query - hi + 1, query - lo)                                  # keys before (or at) the query
    if not causal:  # keys after the query; distance 0 was counted above
        sums += _span_sums(cs, query + lo.clamp_min(1), query + hi - 1)
    return sums.sum(1).double().cpu()
