"""Capture attention maps by layer on demand (float16, hooks), head statistics, rollout and downsampling."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from workbench.attention import blocks
from workbench.attention.distances import distance_edges, histogram_of_maps
from workbench.attention.hooks import (
    StopForward,
    UnsupportedAttention,
    attention_modules,
    blocks_from_layers,
    run_hooked,
    weights_from_layers,
)
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


class OverTokens:
    """A result over one text's token ids (`input_ids`, (T,)): its token count, shared by every such result."""

    input_ids: np.ndarray

    @property
    def n_tokens(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass(frozen=True, eq=False)
class AttentionCapture(OverTokens):
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
    overview_edges: np.ndarray | None = None  # (S + 1,) token boundaries of the overview blocks (from the span's
    #                                           first token to its end: 0..T unless a zoom asked for a span)
    statistics: pd.DataFrame | None = field(default=None, repr=False)  # every layer/head, when asked
    focus: list[int] = field(default_factory=list)   # tokens whose rows and columns every layer kept
    focus_rows: np.ndarray | None = None      # (n_layers, H, F, T) float16: where each focus token looks
    focus_columns: np.ndarray | None = None   # (n_layers, H, T, F) float16: what looks at each focus token
    distances: np.ndarray | None = None       # (n_layers, H, bins) float32 with the statistics: attention summed
    #                                           per |query - key| bin (distances.distance_edges), T per head
    received: np.ndarray | None = None        # (n_layers, H, T) float32 with the statistics: attention each key
    #                                           gets, summed over the queries (sinks.py)
    seconds: float = 0.0

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


class _Recorder:
    """What a capture keeps of each layer, whichever engine computed it: float16 maps of the wanted layers,
    downsampled overviews, head statistics, and the rows and columns of the focus tokens."""

    def __init__(self, wanted: list[int], last: int, edges: np.ndarray | None, all_statistics: bool,
                 focus: list[int], progress: Progress) -> None:
        self.wanted, self.last, self.edges, self.all_statistics = wanted, last, edges, all_statistics
        self.focus, self.progress = focus, progress
        self.maps: dict[int, np.ndarray] = {}          # layer -> (H, T, T) float16
        self.overview: dict[int, np.ndarray] = {}      # layer -> (H, S, S) float16
        self.stats: dict[int, dict[str, torch.Tensor]] = {}  # layer -> statistic -> (H,)
        self.focus_rows: dict[int, np.ndarray] = {}    # layer -> (H, F, T) float16
        self.focus_columns: dict[int, np.ndarray] = {}  # layer -> (H, T, F) float16
        self.distances: dict[int, np.ndarray] = {}     # layer -> (H, bins) float32
        self.received: dict[int, np.ndarray] = {}      # layer -> (H, T) float32
        self.rows: int | None = None                    # blocks engine: query rows per block (None: automatic)
        self.space: blocks.Workspace | None = None      # blocks engine: the buffers every block reuses

    def done(self, layer: int) -> None:
        self.progress((layer + 1) / (self.last + 1), f"Layer {layer + 1} of {self.last + 1}")
        if layer == self.last:
            raise StopForward


class _MapRecorder(_Recorder):
    """Forward hooks that read each layer's full (H, T, T) eager weights and drop them at once (the `maps` engine)."""

    def hook(self, layer: int):
        def record(module, args, output):
            weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
            if weights is None or weights.dim() != 4:
                raise UnsupportedAttention(f"layer {layer} ({type(module).__name__}) returned no attention "
                                           "weights under eager attention", field="model")
            self.keep(layer, weights[0].float())                   # (H, T, T)
            self.done(layer)
        return record

    def keep(self, layer: int, p: torch.Tensor) -> None:
        """Store what is wanted of one layer's (H, T, T) maps, one head at a time: temporaries stay at one map."""
        if layer in self.wanted:
            self.maps[layer] = p.to(torch.float16).cpu().numpy()
        if self.edges is not None:
            first, end = int(self.edges[0]), int(self.edges[-1])
            self.overview[layer] = torch.cat([downsample_torch(ph[:, first:end, first:end], self.edges - first)
                                              for ph in p.split(1)]).to(torch.float16).cpu().numpy()  # (H, S, S)
        if self.all_statistics:
            per_head = [_head_statistics_torch(ph) for ph in p.split(1)]
            self.stats[layer] = {k: torch.cat([s[k] for s in per_head]) for k in per_head[0]}
            edges = distance_edges(p.shape[-1])
            self.distances[layer] = histogram_of_maps(p, edges).float().numpy()
            self.received[layer] = p.sum(1).cpu().numpy()
        if self.focus:
            self.focus_rows[layer] = p[:, self.focus, :].half().cpu().numpy()
            self.focus_columns[layer] = p[:, :, self.focus].half().cpu().numpy()


class _BlockRecorder(_Recorder):
    """Readers that compute each layer's attention in query blocks from its rotated q and k, reducing every block
    at once (the `blocks` engine, see blocks.py); the model itself runs sdpa."""

    def reader(self, layer: int):
        def read(module, query, key, mask, scaling):
            h, t = query.shape[1], query.shape[-2]
            rows = self.rows or blocks.block_rows(h, t)
            if self.space is None:  # one workspace for every layer of the pass
                self.space = blocks.Workspace(h * min(rows, t) * t, query.device)
            causal = bool(getattr(module, "is_causal", False))
            red = blocks.LayerReduction(h, t, self.space, causal=causal and mask is None, edges=self.edges,
                                        keep_maps=layer in self.wanted, focus=self.focus,
                                        statistics=self.all_statistics)
            scale = float(scaling) if scaling is not None else query.shape[-1] ** -0.5
            only_overview = not (self.all_statistics or self.focus or layer in self.wanted)
            span = (int(self.edges[0]), int(self.edges[-1])) if only_overview and self.edges is not None else None
            for start, p, logp in blocks.attention_blocks(query, key, scale, mask, causal, rows, self.space, span):
                red.add(start, p, logp)
            self._store(layer, red)
            self.done(layer)
        return read

    def _store(self, layer: int, red: blocks.LayerReduction) -> None:
        if red.maps is not None:
            self.maps[layer] = red.maps
        if self.edges is not None:
            self.overview[layer] = red.overview()
        if self.all_statistics:
            self.stats[layer] = red.statistics()
            self.distances[layer], self.received[layer] = red.distances.float().numpy(), red.received.float().numpy()
        if self.focus:
            self.focus_rows[layer], self.focus_columns[layer] = red.focus_rows, red.focus_columns


def _run(loaded: LoadedModel, modules: list[torch.nn.Module], recorder: _Recorder, layers: list[int],
         ids: list[int]) -> None:
    """One pass reading `layers`: on sdpa with block readers, or with eager weights there read by forward hooks."""
    if isinstance(recorder, _BlockRecorder):
        run_hooked(loaded, ids, list, blocks_from_layers(loaded, modules, {i: recorder.reader(i) for i in layers}))
    else:
        run_hooked(loaded, ids, lambda: [modules[i].register_forward_hook(recorder.hook(i)) for i in layers],
                   weights_from_layers(loaded, modules, set(layers)))


def _check_focus(focus: list[int] | None, n_tokens: int) -> list[int]:
    bad = [f for f in focus or [] if not 0 <= int(f) < n_tokens]
    if bad:
        raise InvalidSetting(f"focus token {bad[0]} is out of range 0..{n_tokens - 1}", field="focus")
    return [int(f) for f in focus or []]


def _span_edges(span: tuple[int, int] | None, n_tokens: int, size: int) -> np.ndarray:
    """Overview block edges over tokens span[0]..span[1] - 1 (every token when None), about `size` blocks."""
    first, end = span or (0, n_tokens)
    if not 0 <= first < end <= n_tokens:
        raise InvalidSetting(f"the token span {first}-{end} must lie within 0-{n_tokens} and hold a token",
                             field="span")
    return first + _block_edges(end - first, size)


def _stacked(kept: dict[int, np.ndarray], layers: list[int], empty: tuple[int, ...]) -> np.ndarray:
    """The kept maps as one (layers, ...) array; one layer is a view, not a copy (1.2 GB at 8,192 tokens)."""
    if len(layers) == 1:
        return kept[layers[0]][None]
    return np.stack([kept[i] for i in layers]) if layers else np.zeros((0, *empty), np.float16)


ENGINES = ("blocks", "maps")


def capture_attention(loaded: LoadedModel, text: str, layers: list[int] | None = None, *,
                      max_tokens: int | None = None, chat: bool = False, overview_size: int | None = None,
                      all_statistics: bool = False, focus: list[int] | None = None, engine: str = "blocks",
                      block_rows: int | None = None, span: tuple[int, int] | None = None,
                      progress: Progress = no_progress) -> AttentionCapture:
    """One forward pass that keeps float16 maps of the asked layers only (`[]`: none). `overview_size` adds a
    downsampled map of every layer; `all_statistics` head statistics of every layer; `focus` the rows and columns
    of those tokens in every layer; all from the same pass. `span` (first, end) narrows the overview to those
    tokens (queries and keys, `overview_size` blocks a side over the span: a zoom); alone with it, the blocks
    engine computes only the span's query rows.

    engine "blocks" (default): the model runs sdpa and each read layer's attention is recomputed from its rotated
    q and k in query blocks of `block_rows` rows, each reduced at once (peak extra memory ~ one block plus what is
    kept); "maps": eager weights, one layer's full float32 maps at a time (models that cannot switch attention
    implementation always use it)."""
    if engine not in ENGINES:
        raise InvalidSetting(f"`engine` must be one of {', '.join(ENGINES)}, got {engine!r}", field="engine")
    start = time.perf_counter()
    info = loaded.info
    wanted = check_layers(info.layers, layers)
    full_text, ids, original = encode_text(loaded, text, max_tokens=max_tokens, chat=chat)
    focus = _check_focus(focus, len(ids))
    modules = attention_modules(loaded.model)
    every_layer = overview_size is not None or all_statistics or bool(focus)
    hooked = list(range(len(modules))) if every_layer else wanted
    if span is not None and not overview_size:
        raise InvalidSetting("`span` narrows the overview: give `overview_size` too", field="span")
    edges = _span_edges(span, len(ids), overview_size) if overview_size else None
    args = (wanted, hooked[-1] if hooked else -1, edges, all_statistics, focus, progress)
    recorder: _Recorder = _BlockRecorder(*args) if engine == "blocks" else _MapRecorder(*args)
    if hooked:
        recorder.rows = block_rows
        try:
            _run(loaded, modules, recorder, hooked, ids)
        except UnsupportedAttention:
            if engine != "blocks":
                raise
            recorder = _MapRecorder(*args)
            _run(loaded, modules, recorder, hooked, ids)
    t, h = len(ids), info.heads
    return AttentionCapture(
        model_name=info.name, kind="causal" if loaded.kind == "causal" else "encoder", text=full_text,
        tokens=token_labels(loaded.tokenizer, ids), input_ids=np.asarray(ids, dtype=np.int64), layers=wanted,
        pattern=_stacked(recorder.maps, wanted, (h, t, t)), truncated=original > len(ids), original_tokens=original,
        n_layers=info.layers, n_heads=h, kv_heads=info.kv_heads,
        overview=np.stack([recorder.overview[i] for i in hooked]) if edges is not None else None,
        overview_edges=edges, statistics=_statistics_frame(recorder.stats) if all_statistics else None,
        focus=focus, focus_rows=_stacked(recorder.focus_rows, hooked, (h, len(focus), t)) if focus else None,
        focus_columns=_stacked(recorder.focus_columns, hooked, (h, t, len(focus))) if focus else None,
        distances=np.stack([recorder.distances[i] for i in hooked]) if all_statistics else None,
        received=np.stack([recorder.received[i] for i in hooked]) if all_statistics else None,
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
