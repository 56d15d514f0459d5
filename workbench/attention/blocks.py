"""Attention in query blocks, straight from a layer's own rotated queries and keys (grouped-query attention
included): each block of rows is reduced at once into what the views need (head statistics, distance histograms,
per-key sums, block overviews, kept maps, token-focus rows and columns), so a layer's (H, T, T) map is only ever
held when a view asked for it."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from workbench.attention.distances import distance_edges, histogram_of_rows

BLOCK_ELEMENTS = 2 ** 23   # (H, rows, keys) floats of one block: 32 MB in float32, a few such temporaries at once
MAX_BLOCK_ROWS = 256
LOG_EPS = math.log(1e-12)  # entropy uses log(max(p, 1e-12)), as on full maps
STATISTICS = ("entropy", "entropy_ratio", "mean_distance", "sink_share", "previous_share", "self_share")


def block_rows(heads: int, tokens: int, budget: int = BLOCK_ELEMENTS) -> int:
    """Query rows per block so that one (H, rows, T) block stays within `budget` floats (at most 256 rows)."""
    return max(1, min(MAX_BLOCK_ROWS, budget // max(1, heads * tokens)))


class Workspace:
    """Flat buffers for the largest block, reused by every block and layer: a fresh multi-MB tensor per block
    would leave freed heap memory behind (glibc keeps it), and the process would grow by hundreds of MB."""

    def __init__(self, elements: int, device: torch.device | str = "cpu") -> None:
        self.scores = torch.empty(elements, device=device)            # scores, then probabilities
        self.logp = torch.empty(elements, device=device)              # log-probabilities, then scratch
        self.flags = torch.empty(elements, dtype=torch.bool, device=device)

    @staticmethod
    def view(buffer: torch.Tensor, *shape: int) -> torch.Tensor:
        return buffer[:math.prod(shape)].view(shape)


def _mask(scores: torch.Tensor, mask: torch.Tensor | None, causal: bool, start: int) -> None:
    """Hide keys in place in scores (H, B, K) of rows start..start + B: the model's mask as it reached the
    attention function (None = causal or nothing, bool = keep, float = add) or, with none, the causal mask."""
    _, b, keys = scores.shape
    low = torch.finfo(scores.dtype).min
    if mask is None:
        if causal:  # only keys start.. can lie after a row of the block: mask that (B, K - start) corner alone
            rows = torch.arange(start, start + b, device=scores.device)[:, None]
            later = torch.arange(start, keys, device=scores.device)[None, :] > rows        # (B, K - start)
            scores[..., start:].masked_fill_(later, low)
        return
    m = mask[0]                                                                   # (1 or H, Tq, T)
    m = m[:, start:start + b, :keys] if m.shape[-2] > 1 else m[..., :keys]
    if m.dtype == torch.bool:
        scores.masked_fill_(~m, low)
    else:
        scores.add_(m.to(scores.dtype)).clamp_min_(low)


def attention_blocks(query: torch.Tensor, key: torch.Tensor, scaling: float, mask: torch.Tensor | None,
                     causal: bool, rows: int, space: Workspace,
                     span: tuple[int, int] | None = None) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """(first row, probabilities (H, B, K), log-probabilities (H, B, K)) per query block of `rows` rows (only the
    rows of `span`, (first, end), when given), float32 views into `space` (valid until the next block); K is the
    block's last row + 1 for a causal layer (later keys are masked anyway), else T. query (1, H, T, d) and key
    (1, Hkv, T, d) as the attention function got them."""
    q, k = query[0].float(), key[0].float()                                      # (H, T, d), (Hkv, T, d)
    h, t, d = q.shape
    kv = k.shape[0]
    q = q.reshape(kv, h // kv, t, d)                                 # (Hkv, g, T, d): head i reads kv i // g
    first, last = span or (0, t)
    for start in range(first, last, rows):
        end = min(last, start + rows)
        b, keys = end - start, (end if causal else t)
        scores = space.view(space.scores, kv, h // kv, b, keys)
        torch.matmul(q[:, :, start:end], k[:, None, :keys].transpose(-1, -2), out=scores)   # (Hkv, g, B, K)
        scores = scores.view(h, b, keys).mul_(scaling)                           # (H, B, K)
        _mask(scores, mask, causal, start)
        logp = torch.log_softmax(scores, -1, out=space.view(space.logp, h, b, keys))
        yield start, torch.exp(logp, out=scores), logp


class LayerReduction:
    """Running reductions of one layer's attention, fed block by block: when asked, sums for the head statistics,
    the distance histograms and the attention each key receives; the block overview (of a token span); the full
    float16 maps and the rows and columns of some tokens."""

    def __init__(self, heads: int, tokens: int, space: Workspace, *, causal: bool, edges: np.ndarray | None,
                 keep_maps: bool, focus: list[int], statistics: bool = True) -> None:
        self.tokens, self.space, self.causal = tokens, space, causal
        self.edges, self.focus, self.with_statistics = edges, focus, statistics
        self.sums = {name: torch.zeros(heads, dtype=torch.float64) for name in STATISTICS}   # each (H,)
        self.distance_edges = distance_edges(tokens)
        self.distances = torch.zeros(heads, len(self.distance_edges) - 1, dtype=torch.float64)  # (H, bins)
        self.received = torch.zeros(heads, tokens, dtype=torch.float64)       # (H, T) attention summed over queries
        self.maps = np.zeros((heads, tokens, tokens), np.float16) if keep_maps else None     # (H, T, T)
        self.focus_rows = np.zeros((heads, len(focus), tokens), np.float16)                   # (H, F, T)
        self.focus_columns = np.zeros((heads, tokens, len(focus)), np.float16)                # (H, T, F)
        if edges is not None:  # the overview covers tokens edges[0]..edges[-1] - 1, rows and keys
            e = torch.as_tensor(edges)
            s = len(edges) - 1
            position = torch.arange(tokens)
            inside = (position >= e[0]) & (position < e[-1])                                 # (T,)
            block_of = torch.bucketize(position, e[1:], right=True).clamp_max(s - 1)        # (T,) block per token
            self.key_blocks = (torch.nn.functional.one_hot(block_of, s).float()
                               * inside[:, None]).to(space.scores.device)                    # (T, S), 0 outside
            self.row_block, self.span = block_of, (int(e[0]), int(e[-1]))
            self.block_sizes = (e[1:] - e[:-1]).float()                                      # (S,)
            self.overview_sum = torch.zeros(heads, s, s)                                     # (H, S, S)

    def add(self, start: int, p: torch.Tensor, logp: torch.Tensor) -> None:
        """Fold in one block: probabilities and log-probabilities (H, B, K) of query rows start..start + B over keys
        0..K-1 (`logp` is used up as scratch)."""
        end, keys = start + p.shape[1], p.shape[2]
        low, high = (max(start, self.span[0]), min(end, self.span[1])) if self.edges is not None else (0, 0)
        if low < high:
            keysum = p[:, low - start:high - start] @ self.key_blocks[:keys]    # (H, B', S): keys summed per block
            self.overview_sum.index_add_(1, self.row_block[low:high], keysum.cpu())
        if self.maps is not None:  # torch casts to float16 in place, vectorised (numpy's cast is ~10x slower)
            torch.from_numpy(self.maps)[:, start:end, :keys].copy_(p)
        for i, token in enumerate(self.focus):
            if start <= token < end:
                torch.from_numpy(self.focus_rows)[:, i, :keys].copy_(p[:, token - start])
            if token < keys:
                torch.from_numpy(self.focus_columns)[:, start:end, i].copy_(p[:, :, token])
        if self.with_statistics:
            self._statistics(start, p, logp)
            self.received[:, :keys] += p.sum(1).double().cpu()
            self.distances += histogram_of_rows(p, start, self.distance_edges, self.causal, logp)  # logp: scratch

    def _statistics(self, start: int, p: torch.Tensor, logp: torch.Tensor) -> None:
        h, b, keys = p.shape
        query = torch.arange(start, start + b, device=p.device)                  # (B,) positions of the rows
        entropy = -logp.clamp_min_(LOG_EPS).mul_(p).sum(-1)                      # (H, B) nats
        flags = torch.gt(p, 0, out=self.space.view(self.space.flags, h, b, keys))
        visible = flags.sum(-1, dtype=torch.int32).clamp_min(1).float()          # keys a row can see (H, B)
        uniform = torch.log(visible)
        ratio = torch.where(uniform > 0, entropy / uniform.clamp_min(1e-12), torch.zeros_like(entropy))
        tail = query >= 1 if self.tokens > 1 else torch.ones_like(query, dtype=torch.bool)   # rows shares average
        rows = torch.arange(b, device=p.device)
        diag = p[:, rows, query]                                                 # (H, B)
        previous = p[:, rows[query >= 1], query[query >= 1] - 1]                 # (H, B') rows with a token before
        sums = {"entropy": entropy.sum(-1), "entropy_ratio": ratio[:, tail].sum(-1),
                "mean_distance": self._distance(query, p, logp), "sink_share": p[:, tail, 0].sum(-1),
                "previous_share": previous.sum(-1), "self_share": diag[:, tail].sum(-1)}
        for name, value in sums.items():
            self.sums[name] += value.double().cpu()

    def _distance(self, query: torch.Tensor, p: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
        """Sum over the block's rows of E|query - key| under each row's weights, (H,)."""
        keys = torch.arange(p.shape[-1], device=p.device, dtype=p.dtype)
        if self.causal:  # every key at or before the query: sum p (q - k) = q - p @ k, one matrix-vector product
            return (query.to(p.dtype) - p @ keys).sum(-1)
        distance = (query[:, None].to(p.dtype) - keys[None, :]).abs()            # (B, K)
        return torch.mul(p, distance, out=scratch).sum((-1, -2))

    def statistics(self) -> dict[str, torch.Tensor]:
        """Each statistic (H,) as `capture._head_statistics_torch` gives it on the full maps."""
        t = self.tokens
        tail = t - 1 if t > 1 else t
        counts = {"entropy": t, "mean_distance": t, "previous_share": max(t - 1, 1)}
        return {name: (s / counts.get(name, tail)).float() for name, s in self.sums.items()}

    def overview(self) -> np.ndarray:
        """(H, S, S) float16: query rows averaged per block, keys summed, as `capture.downsample` does."""
        return (self.overview_sum / self.block_sizes[:, None]).half().numpy()
