"""Capture attention maps by layer on demand (float16, hooks), head statistics, rollout and downsampling."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from workbench.attention.hooks import StopForward, UnsupportedAttention, attention_modules, weights_from_layers
from workbench.errors import InvalidSetting
from workbench.models import LoadedModel
from workbench.models.prompts import chat_prompt, text_ids, token_labels
from workbench.progress import Progress, no_progress

# Head kinds: a head gets the first label whose rule holds (shares are means over query rows).
PREVIOUS_TOKEN_MIN = 0.5   # share of attention on the token just before
SINK_MIN = 0.6             # share on the first token (the "attention sink")
SELF_MIN = 0.5             # share on the query token itself
BROAD_MIN = 0.7            # entropy / entropy of a uniform row (1.0 = spread evenly over every key)
HEAD_KINDS = {
    "previous-token": "mostly attends to the token just before the query",
    "sink": "parks most attention on the first token (a no-op default)",
    "self": "mostly attends to the query token itself",
    "broad": "spreads attention evenly over many keys (averaging context)",
    "mixed": "none of the above dominates: look at the map",
}
STATISTIC_LEGEND = {
    "entropy": "spread of a row in nats (0 = one key only); mean over query rows",
    "entropy_ratio": "entropy / entropy of a uniform row over the visible keys (0..1)",
    "mean_distance": "expected |query - key| in tokens under the row's weights; mean over rows",
    "sink_share": "weight on the first token, mean over queries after the first",
    "previous_share": "weight on the token just before the query, mean over queries after the first",
    "self_share": "weight on the query token itself, mean over queries after the first",
}


class EmptyText(InvalidSetting):
    """The text to look at is empty or only whitespace."""


class LayerOutOfRange(InvalidSetting):
    """A layer or head index does not exist in this model."""


@dataclass(frozen=True, eq=False)
class AttentionCapture:
    """Attention of one text through one model: full float16 maps of the captured layers, plus optional
    overviews (every layer, downsampled) and statistics of every layer and head."""

    model_name: str
    kind: str                   # "causal" (masked above the diagonal) or "encoder" (bidirectional)
    text: str                   # the text the model read (chat template applied when asked)
    tokens: list[str]           # one readable piece per token
    input_ids: np.ndarray       # (T,) int64
    layers: list[int]           # captured layer indices, ascending
    pattern: np.ndarray         # (len(layers), H, T, T) float16; rows sum to 1
    truncated: bool             # the text was cut to `T` tokens
    original_tokens: int        # token count before truncation
    n_layers: int               # layers in the model
    n_heads: int                # query heads
    kv_heads: int               # key/value heads (< n_heads under grouped-query attention)
    overview: np.ndarray | None = None        # (n_layers, H, S, S) float16, see `downsample`
    overview_edges: np.ndarray | None = None  # (S + 1,) token boundaries of the overview blocks
    statistics: pd.DataFrame | None = field(default=None, repr=False)  # every layer/head, when asked
    seconds: float = 0.0

    @property
    def n_tokens(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def causal(self) -> bool:
        return self.kind == "causal"

    def head(self, layer: int, head: int) -> np.ndarray:
        """The (T, T) float32 map of one captured layer and head (query rows, key columns)."""
        check_head(self.n_heads, head)
        if layer not in self.layers:
            raise LayerOutOfRange(f"layer {layer} was not captured (captured: {self.layers})", field="layer")
        return self.pattern[self.layers.index(layer), head].astype(np.float32)

    def layer(self, layer: int) -> np.ndarray:
        """The (H, T, T) float32 maps of one captured layer."""
        if layer not in self.layers:
            raise LayerOutOfRange(f"layer {layer} was not captured (captured: {self.layers})", field="layer")
        return self.pattern[self.layers.index(layer)].astype(np.float32)


def check_layers(n_layers: int, layers: list[int] | None) -> list[int]:
    """Sorted unique layer indices, all in range; `None` means every layer."""
    if layers is None:
        return list(range(n_layers))
    bad = [layer for layer in layers if not 0 <= int(layer) < n_layers]
    if bad:
        raise LayerOutOfRange(f"layer {bad[0]} is out of range: this model has layers 0..{n_layers - 1}",
                              field="layer")
    return sorted({int(layer) for layer in layers})


def check_head(n_heads: int, head: int) -> int:
    if not 0 <= int(head) < n_heads:
        raise LayerOutOfRange(f"head {head} is out of range: this model has heads 0..{n_heads - 1}",
                              field="head")
    return int(head)


def encode_text(loaded: LoadedModel, text: str, *, max_tokens: int | None = None,
                chat: bool = False) -> tuple[str, list[int], int]:
    """(text the model reads, token ids cut to the limit, token count before the cut)."""
    if not text or not text.strip():
        raise EmptyText("the text is empty: type something to look at", field="text")
    context = loaded.info.context_length or 512
    limit = context if max_tokens is None else int(max_tokens)
    if limit < 1:
        raise InvalidSetting(f"`max_tokens` must be at least 1, got {max_tokens}", field="max_tokens")
    limit = min(limit, context)
    full = chat_prompt(loaded, text) if chat else text
    ids = text_ids(loaded.tokenizer, full, prefix=[] if chat else None)
    return full, ids[:limit], len(ids)


def _block_edges(n: int, size: int) -> np.ndarray:
    return np.unique(np.linspace(0, n, min(size, n) + 1).round().astype(np.int64))


def downsample_torch(p: torch.Tensor, edges: np.ndarray) -> torch.Tensor:
    """(..., T, T) -> (..., S, S): query rows averaged per block, key columns summed, so rows still sum to 1."""
    e = torch.as_tensor(edges, device=p.device)
    zero = torch.zeros_like(p[..., :1])
    cs = torch.cat([zero, p.cumsum(-1)], -1)                     # (..., T, T + 1)
    keys = cs.index_select(-1, e[1:]) - cs.index_select(-1, e[:-1])  # (..., T, S)
    zero = torch.zeros_like(keys[..., :1, :])
    rs = torch.cat([zero, keys.cumsum(-2)], -2)                  # (..., T + 1, S)
    rows = rs.index_select(-2, e[1:]) - rs.index_select(-2, e[:-1])  # (..., S, S)
    sizes = (e[1:] - e[:-1]).to(p.dtype)
    return rows / sizes[:, None]


def downsample(p: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Block overview of maps (..., T, T) at about `size` x `size`; returns (maps, token edges)."""
    edges = _block_edges(p.shape[-1], size)
    out = downsample_torch(torch.from_numpy(np.asarray(p, dtype=np.float32)), edges)
    return out.numpy(), edges


def _head_statistics_torch(p: torch.Tensor) -> dict[str, torch.Tensor]:
    """Statistics of (H, T, T) row-stochastic maps, each (H,)."""
    h, t, _ = p.shape
    idx = torch.arange(t, device=p.device)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum(-1)       # (H, T) nats
    distance = (idx[:, None] - idx[None, :]).abs().to(p.dtype)   # (T, T)
    mean_distance = (p * distance).sum(-1)                       # (H, T)
    visible = torch.count_nonzero(p > 0, dim=-1).clamp_min(1).to(p.dtype)  # keys a row can see (H, T)
    uniform = torch.log(visible)                                 # entropy of a uniform row over them
    ratio = torch.where(uniform > 0, entropy / uniform.clamp_min(1e-12), torch.zeros_like(entropy))
    tail = slice(1, None) if t > 1 else slice(0, None)
    diag = p.diagonal(dim1=-2, dim2=-1)                           # (H, T)
    previous = p.diagonal(offset=-1, dim1=-2, dim2=-1) if t > 1 else torch.zeros_like(diag)  # (H, T-1)
    return {"entropy": entropy.mean(-1), "entropy_ratio": ratio[:, tail].mean(-1),
            "mean_distance": mean_distance.mean(-1), "sink_share": p[:, tail, 0].mean(-1),
            "previous_share": previous.mean(-1), "self_share": diag[:, tail].mean(-1)}


def head_label(sink: float, previous: float, self_share: float, entropy_ratio: float) -> str:
    """The kind of a head from its statistics (see HEAD_KINDS)."""
    if previous >= PREVIOUS_TOKEN_MIN:
        return "previous-token"
    if sink >= SINK_MIN:
        return "sink"
    if self_share >= SELF_MIN:
        return "self"
    if entropy_ratio >= BROAD_MIN:
        return "broad"
    return "mixed"


def _statistics_frame(layer_stats: dict[int, dict[str, torch.Tensor]]) -> pd.DataFrame:
    rows = []
    for layer, stats in sorted(layer_stats.items()):
        values = {k: v.float().cpu().numpy() for k, v in stats.items()}
        for head in range(len(values["entropy"])):
            row = {"layer": layer, "head": head, **{k: float(v[head]) for k, v in values.items()}}
            row["label"] = head_label(row["sink_share"], row["previous_share"], row["self_share"],
                                      row["entropy_ratio"])
            rows.append(row)
    return pd.DataFrame(rows, columns=["layer", "head", *STATISTIC_LEGEND, "label"])


def statistics_of_maps(maps: np.ndarray, layers: list[int]) -> pd.DataFrame:
    """Head statistics of row-stochastic maps (L, H, T, T), one row per (layer, head)."""
    return _statistics_frame({layer: _head_statistics_torch(torch.from_numpy(np.asarray(m, np.float32)))
                              for layer, m in zip(layers, maps)})


def head_statistics(capture: AttentionCapture) -> pd.DataFrame:
    """layer, head, entropy, mean distance, sink/previous/self shares and a kind label for every head;
    every layer when the capture computed them in the pass, else the captured layers."""
    if capture.statistics is not None:
        return capture.statistics.copy()
    return statistics_of_maps(capture.pattern, capture.layers)


class _LayerRecorder:
    """Forward hooks that keep what a capture asked of each layer and drop the (H, T, T) float32 maps at once:
    float16 maps of the wanted layers, downsampled overviews, head statistics."""

    def __init__(self, wanted: list[int], last: int, edges: np.ndarray | None, all_statistics: bool,
                 progress: Progress) -> None:
        self.wanted, self.last, self.edges, self.all_statistics = wanted, last, edges, all_statistics
        self.progress = progress
        self.maps: dict[int, np.ndarray] = {}          # layer -> (H, T, T) float16
        self.overview: dict[int, np.ndarray] = {}      # layer -> (H, S, S) float16
        self.stats: dict[int, dict[str, torch.Tensor]] = {}  # layer -> statistic -> (H,)

    def hook(self, layer: int):
        def record(module, args, output):
            weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
            if weights is None or weights.dim() != 4:
                raise UnsupportedAttention(f"layer {layer} ({type(module).__name__}) returned no attention "
                                           "weights under eager attention", field="model")
            self.keep(layer, weights[0].float())                   # (H, T, T)
            self.progress((layer + 1) / (self.last + 1), f"Layer {layer + 1} of {self.last + 1}")
            if layer == self.last:
                raise StopForward
        return record

    def keep(self, layer: int, p: torch.Tensor) -> None:
        """Store what is wanted of one layer's (H, T, T) maps, one head at a time: temporaries stay at one map."""
        if layer in self.wanted:
            self.maps[layer] = p.to(torch.float16).cpu().numpy()
        if self.edges is not None:
            self.overview[layer] = torch.cat([downsample_torch(ph, self.edges) for ph in p.split(1)]).to(
                torch.float16).cpu().numpy()                                       # (H, S, S)
        if self.all_statistics:
            per_head = [_head_statistics_torch(ph) for ph in p.split(1)]
            self.stats[layer] = {k: torch.cat([s[k] for s in per_head]) for k in per_head[0]}


def _run_hooked(loaded: LoadedModel, modules: list[torch.nn.Module], recorder: _LayerRecorder,
                layers: list[int], ids: list[int]) -> None:
    """One forward pass with the recorder on `layers` (only they compute weights), stopped after the last one;
    the hooks are added and removed under the model lock, so they never fire in another caller's pass."""
    input_ids = torch.tensor([ids], device=loaded.device)              # (1, T)
    with loaded.lock:
        handles = [modules[layer].register_forward_hook(recorder.hook(layer)) for layer in layers]
        try:
            with weights_from_layers(loaded, modules, set(layers)), torch.inference_mode():
                try:
                    loaded.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
                except StopForward:
                    pass
        finally:
            for h in handles:
                h.remove()


def capture_attention(loaded: LoadedModel, text: str, layers: list[int] | None = None, *,
                      max_tokens: int | None = None, chat: bool = False, overview_size: int | None = None,
                      all_statistics: bool = False, progress: Progress = no_progress) -> AttentionCapture:
    """One forward pass with eager attention; hooks copy out float16 maps of the asked layers only and drop
    the rest at once (peak extra memory ~ one layer's float32 maps). `overview_size` adds a downsampled map of
    every layer; `all_statistics` head statistics of every layer, both computed in the same pass."""
    start = time.perf_counter()
    info = loaded.info
    wanted = check_layers(info.layers, layers)
    full_text, ids, original = encode_text(loaded, text, max_tokens=max_tokens, chat=chat)
    modules = attention_modules(loaded.model)
    every_layer = overview_size is not None or all_statistics
    hooked = list(range(len(modules))) if every_layer else wanted
    edges = _block_edges(len(ids), overview_size) if overview_size else None
    recorder = _LayerRecorder(wanted, hooked[-1], edges, all_statistics, progress)
    _run_hooked(loaded, modules, recorder, hooked, ids)
    pattern = np.stack([recorder.maps[layer] for layer in wanted])      # (L, H, T, T) float16
    return AttentionCapture(
        model_name=info.name, kind="causal" if loaded.kind == "causal" else "encoder", text=full_text,
        tokens=token_labels(loaded.tokenizer, ids), input_ids=np.asarray(ids, dtype=np.int64), layers=wanted,
        pattern=pattern, truncated=original > len(ids), original_tokens=original, n_layers=info.layers,
        n_heads=pattern.shape[1], kv_heads=info.kv_heads,
        overview=np.stack([recorder.overview[i] for i in hooked]) if edges is not None else None,
        overview_edges=edges, statistics=_statistics_frame(recorder.stats) if all_statistics else None,
        seconds=time.perf_counter() - start)


def renormalise_without_first(p: np.ndarray) -> np.ndarray:
    """Maps (..., T, T) without the first token (row and column), each row rescaled to sum to 1 again."""
    rest = np.asarray(p, dtype=np.float32)[..., 1:, 1:]
    total = rest.sum(-1, keepdims=True)
    return np.divide(rest, total, out=np.zeros_like(rest), where=total > 0)


def mean_over_heads(capture: AttentionCapture, layer: int) -> np.ndarray:
    """(T, T): the average of a layer's heads."""
    return capture.layer(layer).mean(0)


def rollout(maps: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020) over per-layer maps (L, H, T, T) in layer order: the residual
    path as 0.5 I + 0.5 mean-head map, rows renormalised, multiplied from the first layer up -> (T, T)."""
    maps = np.asarray(maps, dtype=np.float32)
    t = maps.shape[-1]
    eye = np.eye(t, dtype=np.float32)
    out = eye
    for layer_maps in maps:
        a = 0.5 * layer_maps.mean(0) + 0.5 * eye
        a /= a.sum(-1, keepdims=True)
        out = a @ out
    return out


def token_flow(capture: AttentionCapture, layer: int, token: int) -> tuple[np.ndarray, np.ndarray]:
    """For one token and layer: (H, T) where it attends (its row) and (H, T) what attends to it (its column)."""
    if not 0 <= token < capture.n_tokens:
        raise InvalidSetting(f"token {token} is out of range 0..{capture.n_tokens - 1}", field="token")
    p = capture.layer(layer)
    return p[:, token, :], p[:, :, token]
