"""What a page draws from a capture: a token window (zoom), a subset of query rows, the first token hidden,
downsampled when the window is too big to send cell by cell. Plain arrays in and out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.attention.capture import AttentionCapture, downsample, renormalise_without_first
from workbench.errors import InvalidSetting

MAX_SIDE = 256   # a window up to 256 x 256 tokens goes to the browser cell by cell (~0.5 MB of JSON)


@dataclass(frozen=True, eq=False)
class MapView:
    """A (Q, K) matrix ready to draw, with one label per row and column and the cells the mask hides."""

    matrix: np.ndarray          # (Q, K) float32
    query_labels: list[str]
    key_labels: list[str]
    masked: np.ndarray | None   # (Q, K) bool, True where a causal model cannot look
    downsampled: bool           # rows and columns are token blocks, not single tokens
    note: str                   # what was done to the map, for a caption


def _labels(tokens: list[str], positions: np.ndarray) -> list[str]:
    return [f"{int(i)} {tokens[int(i)]}" for i in positions]


def _block_labels(tokens: list[str], edges: np.ndarray, offset: int) -> list[str]:
    return [f"{offset + a}-{offset + b - 1} {tokens[offset + a]}…" for a, b in zip(edges[:-1], edges[1:])]


def map_view(matrix: np.ndarray, tokens: list[str], *, causal: bool, start: int = 0, end: int | None = None,
             rows: list[int] | None = None, hide_first: bool = False, max_side: int = MAX_SIDE) -> MapView:
    """Cut a full (T, T) map to tokens [start, end), optionally only `rows` as queries and without the first
    token (rows renormalised); downsample to `max_side` blocks when still too big."""
    t = matrix.shape[-1]
    end = t if end is None else min(end, t)
    notes = []
    p = np.asarray(matrix, dtype=np.float32)
    first = 0
    if hide_first and t > 1:
        p = renormalise_without_first(p)
        first = 1
        notes.append("first token hidden, rows renormalised")
    lo, hi = max(start, first), end
    keys = np.arange(lo, hi)
    queries = np.array(sorted(r for r in rows if lo <= r < hi)) if rows else keys
    if len(queries) == 0:
        queries = keys
    sub = p[np.ix_(queries - first, keys - first)]                        # (Q, K)
    if lo > 0 or hi < t:
        notes.append(f"tokens {lo}-{hi - 1} of {t}")
    if rows:
        notes.append(f"{len(queries)} picked query rows")
    if len(keys) <= max_side and len(queries) <= max_side:
        masked = keys[None, :] > queries[:, None] if causal else None
        return MapView(sub, _labels(tokens, queries), _labels(tokens, keys), masked, False, ", ".join(notes))
    if rows:  # picked rows x many keys: keep the rows, sum the keys in blocks
        edges = np.unique(np.linspace(0, len(keys), max_side + 1).round().astype(int))
        cs = np.concatenate([np.zeros((len(queries), 1), np.float32), sub.cumsum(-1)], -1)   # (Q, K + 1)
        blocks = cs[:, edges[1:]] - cs[:, edges[:-1]]                                        # (Q, S)
        notes.append(f"keys in blocks of ~{len(keys) // (len(edges) - 1)} tokens (summed)")
        return MapView(blocks, _labels(tokens, queries), _block_labels(tokens, edges, lo), None, True,
                       ", ".join(notes))
    # Square window too big: query rows averaged and keys summed per block, so rows still sum to 1.
    small, edges = downsample(sub[None], max_side)                                           # (1, S, S)
    notes.append(f"downsampled to {len(edges) - 1} x {len(edges) - 1} blocks of ~{len(keys) // (len(edges) - 1)} "
                 "tokens: zoom in for single tokens")
    labels = _block_labels(tokens, edges, lo)
    masked = edges[:-1][None, :] > edges[1:][:, None] - 1 if causal else None   # key block wholly after queries
    return MapView(small[0], labels, labels, masked, True, ", ".join(notes))


def query_rows(text: str, n_tokens: int) -> list[int]:
    """Parse "3, 10-12" into [3, 10, 11, 12]; out-of-range positions are dropped."""
    rows: set[int] = set()
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        a, _, b = part.partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise InvalidSetting(f"query rows: {part!r} is not a position or a range like 10-20",
                                 field="rows") from None
        if hi < lo:
            raise InvalidSetting(f"query rows: {part!r} runs backwards; write it as {hi}-{lo}", field="rows")
        rows.update(range(max(lo, 0), min(hi, n_tokens - 1) + 1))
    return sorted(rows)


def focus_across_layers(capture: AttentionCapture, max_keys: int = MAX_SIDE) -> tuple[np.ndarray, list[str]]:
    """(L, K) the first focus token's row in every layer, mean over heads, from the capture's focus rows (exact, no
    full map); past `max_keys` keys, summed in about `max_keys` blocks. Returns (weights, key labels)."""
    if not capture.focus:
        raise InvalidSetting("this capture kept no focus rows: capture with `focus=[token]`", field="focus")
    rows = capture.focus_rows[:, :, 0, :].astype(np.float32).mean(1)            # (L, T)
    t = rows.shape[-1]
    if t <= max_keys:
        return rows, _labels(capture.tokens, np.arange(t))
    edges = np.unique(np.linspace(0, t, max_keys + 1).round().astype(int))
    cs = np.concatenate([np.zeros((len(rows), 1), np.float32), rows.cumsum(-1)], -1)   # (L, T + 1)
    return cs[:, edges[1:]] - cs[:, edges[:-1]], _block_labels(capture.tokens, edges, 0)


def clicked_layer_head(points: list[dict]) -> tuple[int, int] | None:
    """The (layer, head) of the first selected point whose customdata starts with a head (head >= 0: a contribution
    graph's residual and MLP edges carry -1); None when there is none. Plotly may hand customdata back as a list
    or as an index-keyed object."""
    for point in points:
        data = point.get("customdata")
        if data is None:
            continue
        values = [data[k] for k in sorted(data, key=int)] if isinstance(data, dict) else list(data)
        if int(values[1]) >= 0:
            return int(values[0]), int(values[1])
    return None
