"""Attention sinks found without a full map: from the attention each key receives (summed over queries, folded in
block by block), the keys that take a large share of a layer's attention, named by token."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.attention.capture import AttentionCapture
from workbench.errors import InvalidSetting

# A key is a sink of a head when it takes at least this share of that head's attention (what it receives summed
# over every query, divided by the number of queries: a uniform head gives each of T keys 1/T), and a sink of a
# layer when the mean of that share over the layer's heads reaches it.
SINK_MIN_SHARE = 0.2


def key_shares(capture: AttentionCapture) -> np.ndarray:
    """(n_layers, H, T) share of each head's attention that each key receives (rows of a head sum to 1)."""
    if capture.received is None:
        raise InvalidSetting("this capture has no per-key sums: capture with `all_statistics=True`",
                             field="all_statistics")
    return capture.received.astype(np.float32) / capture.n_tokens


def strongest_keys(capture: AttentionCapture) -> tuple[np.ndarray, np.ndarray]:
    """(share (n_layers, H), key position (n_layers, H)) of the key each head gives most attention to."""
    shares = key_shares(capture)
    keys = shares.argmax(-1)
    return np.take_along_axis(shares, keys[..., None], -1)[..., 0], keys


def find_sinks(capture: AttentionCapture, threshold: float = SINK_MIN_SHARE) -> pd.DataFrame:
    """One row per (layer, sink key): its token, its share of the layer's attention (mean over heads), and the
    heads for which it is a sink on their own, strongest first."""
    if not 0 < threshold <= 1:
        raise InvalidSetting(f"the sink threshold must lie in (0, 1], got {threshold}", field="threshold")
    shares = key_shares(capture)                                   # (L, H, T)
    layer_share = shares.mean(1)                                   # (L, T)
    rows = []
    for layer, key in zip(*np.nonzero(layer_share >= threshold)):
        heads = np.flatnonzero(shares[layer, :, key] >= threshold)
        rows.append({"layer": int(layer), "key": int(key), "token": capture.tokens[key],
                     "share": float(layer_share[layer, key]), "heads": ", ".join(map(str, heads.tolist())),
                     "n_heads": len(heads)})
    frame = pd.DataFrame(rows, columns=["layer", "key", "token", "share", "heads", "n_heads"])
    return frame.sort_values(["layer", "share"], ascending=[True, False], ignore_index=True)
