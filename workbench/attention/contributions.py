"""Contribution graph (Ferrando & Voita 2024, "Information flow routes"): what each attention head and each MLP
writes into the residual stream, read in one forward pass with hooks on the model's own modules (an active
adapter included), how close each component comes to its block's output (L1 proximity), and the graph of the
important edges walked down from one token.

A `ContributionTrace` holds, per layer ℓ (L layers, T tokens, D model width, H query heads, d head width):

    layer_in       (L, T, D)       residual stream entering layer ℓ
    attention_out  (L, T, D)       the attention block's output: the output projection, its bias included
    mlp_out        (L, T, D)       the MLP's output (before the post-norm on BERT-style layers)
    layer_out      (L, T, D)       residual stream leaving layer ℓ
    pattern        (L, H, T, T)    attention weights, float16; rows sum to 1
    values         (L, T, Hkv·d)   the value projection's output
    mixed          (L, T, H·d)     the output projection's input: attention-weighted values, heads side by side
    out_weight     (L, D, H·d)     the output projection's effective weight (an adapter's LoRA merged in)
    out_bias       (L, D)          its bias (zeros when it has none)

Head h's contribution at position i is mixed[i, h] through W_O's slice of head h; the edge j -> i through
head h is pattern[h, i, j] · f_h(x_j), with f_h(x_j) = W_O^h v_j. Importance of a component c of a block output
y: max(0, ‖y‖₁ − ‖y − c‖₁), normalised over the block's components (residual, heads or edges, MLP)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from workbench.attention.capture import OverTokens, check_head, encode_text
from workbench.attention.hooks import StopForward, UnsupportedAttention, run_hooked, weights_from_layers
from workbench.errors import InvalidSetting
from workbench.models import LoadedModel, adapters
from workbench.models.prompts import token_labels

DEFAULT_THRESHOLD = 0.04        # the llm-transparency-tool's default: edges below 4% of a block's output dropped
EDGE_CHUNK_ELEMENTS = 2 ** 23   # (H, positions, keys, D) floats computed at once while scoring edges (32 MB)


@dataclass(frozen=True)
class LayerModules:
    """The modules of one transformer layer that a trace hooks."""

    layer: torch.nn.Module      # the whole block: input and output are the residual stream
    attention: torch.nn.Module  # computes the attention weights (eager returns them as its output[1])
    value: torch.nn.Module      # value projection
    output: torch.nn.Module     # output projection: heads side by side -> model width
    mlp: torch.nn.Module        # its output is the MLP's contribution
    pre_norm: bool              # the stream adds up: layer_out = layer_in + attention_out + mlp_out


def _llama_style(layer: torch.nn.Module) -> LayerModules | None:
    attention, mlp = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
    if attention is None or mlp is None or not (hasattr(attention, "v_proj") and hasattr(attention, "o_proj")):
        return None
    return LayerModules(layer, attention, attention.v_proj, attention.o_proj, mlp, pre_norm=True)


def _bert_style(layer: torch.nn.Module) -> LayerModules | None:
    attention = getattr(layer, "attention", None)
    self_attention = getattr(attention, "self", None)
    attention_output = getattr(getattr(attention, "output", None), "dense", None)
    mlp_output = getattr(getattr(layer, "output", None), "dense", None)
    if self_attention is None or attention_output is None or mlp_output is None or not hasattr(self_attention,
                                                                                               "value"):
        return None
    # post-norm: the attention output and the MLP output are read before the LayerNorm that follows each
    return LayerModules(layer, self_attention, self_attention.value, attention_output, mlp_output, pre_norm=False)


LAYER_STYLES: dict[str, Callable[[torch.nn.Module], LayerModules | None]] = {
    "Llama-style (self_attn with v_proj and o_proj, mlp)": _llama_style,
    "BERT-style (attention.self, attention.output.dense, output.dense)": _bert_style,
}


def layer_modules(model: torch.nn.Module) -> list[LayerModules]:
    """The hooked modules of every layer, in order: the first module list whose layers one style reads.

    Looked up on each call: an adapter injected since wraps the projections, and the hooks must see the wrapper."""
    for module in model.modules():
        if not isinstance(module, torch.nn.ModuleList) or len(module) == 0:
            continue
        for style in LAYER_STYLES.values():
            found = [style(layer) for layer in module]
            if all(found):
                return found
    raise UnsupportedAttention(f"no layers of a supported kind found in {type(model).__name__}; supported: "
                               f"{'; '.join(LAYER_STYLES)}", field="model")


@dataclass(frozen=True, eq=False)
class ContributionTrace(OverTokens):
    """One text through one model: every layer's residual stream and components (see the module docstring)."""

    model_name: str
    text: str
    tokens: list[str]
    input_ids: np.ndarray           # (T,) int64
    n_layers: int
    n_heads: int                    # query heads
    kv_heads: int                   # key/value heads (< n_heads under grouped-query attention)
    head_dim: int
    pre_norm: bool                  # residual + attention + MLP = layer output (the graph needs it)
    causal: bool
    adapter: str | None             # the adapter active during the pass; None: the base model
    has_bias: bool                  # the output projection has a bias
    seconds: float
    layer_in: torch.Tensor = field(repr=False)
    attention_out: torch.Tensor = field(repr=False)
    mlp_out: torch.Tensor = field(repr=False)
    layer_out: torch.Tensor = field(repr=False)
    pattern: torch.Tensor = field(repr=False)
    values: torch.Tensor = field(repr=False)
    mixed: torch.Tensor = field(repr=False)
    out_weight: torch.Tensor = field(repr=False)
    out_bias: torch.Tensor = field(repr=False)
    adapter_info: adapters.AdapterInfo | None = field(default=None, repr=False)
    cache: dict = field(default_factory=dict, repr=False)   # importances computed so far, by (kind, layer, ...)

    def _per_head(self, vectors: torch.Tensor, layer: int) -> torch.Tensor:
        """(T, H, d) head vectors through each head's slice of the output projection -> (H, T, D)."""
        w = self.out_weight[layer].view(-1, self.n_heads, self.head_dim)               # (D, H, d)
        return torch.einsum("thk,dhk->htd", vectors, w)

    def head_contributions(self, layer: int) -> torch.Tensor:
        """(H, T, D): what each head writes into the residual stream at each position (bias left out)."""
        return self._per_head(self.mixed[layer].view(self.n_tokens, self.n_heads, self.head_dim), layer)

    def value_contributions(self, layer: int) -> torch.Tensor:
        """(H, T, D): f_h(x_j), each key token's value through head h's slice of W_O (before attention weights)."""
        v = self.values[layer].view(self.n_tokens, self.kv_heads, self.head_dim)       # (T, Hkv, d)
        v = v.repeat_interleave(self.n_heads // self.kv_heads, dim=1)                   # (T, H, d): GQA groups
        return self._per_head(v, layer)

    def attention_mid(self, layer: int) -> torch.Tensor:
        """(T, D): the residual stream after the attention block (pre-norm models)."""
        return self.layer_in[layer] + self.attention_out[layer]


# --- one forward pass ---------------------------------------------------------------------------------------

TRACE_FIELDS = ("layer_in", "attention_out", "mlp_out", "layer_out", "pattern", "values", "mixed")


def _first(value) -> torch.Tensor:
    """A module output (tensor or tuple) as the float32 tensor of the batch's only row."""
    tensor = value[0] if isinstance(value, tuple) else value
    return tensor[0].detach().float()


class _TraceRecorder:
    """Forward hooks that copy each layer's stream, components and attention weights out of one pass."""

    def __init__(self, n_layers: int) -> None:
        self.seen: dict[str, list] = {name: [None] * n_layers for name in TRACE_FIELDS}
        self.last = n_layers - 1

    def keep(self, name: str, layer: int, value: torch.Tensor) -> None:
        self.seen[name][layer] = value

    def attach(self, layer: int, mods: LayerModules) -> list:
        def layer_input(_m, args, kwargs):
            self.keep("layer_in", layer, _first(args[0] if args else kwargs["hidden_states"]))

        def layer_output(_m, _args, out):
            self.keep("layer_out", layer, _first(out))
            if layer == self.last:
                raise StopForward  # the logits are not needed

        def weights(module, _args, out):
            if not isinstance(out, tuple) or len(out) < 2 or out[1] is None:
                raise UnsupportedAttention(f"layer {layer} ({type(module).__name__}) returned no attention weights "
                                           "under eager attention", field="model")
            self.keep("pattern", layer, out[1][0].detach().to(torch.float16))          # (H, T, T)

        return [mods.layer.register_forward_pre_hook(layer_input, with_kwargs=True),
                mods.layer.register_forward_hook(layer_output),
                mods.attention.register_forward_hook(weights),
                mods.value.register_forward_hook(lambda _m, _a, out: self.keep("values", layer, _first(out))),
                mods.output.register_forward_pre_hook(lambda _m, args: self.keep("mixed", layer, _first(args[0]))),
                mods.output.register_forward_hook(lambda _m, _a, out: self.keep("attention_out", layer, _first(out))),
                mods.mlp.register_forward_hook(lambda _m, _a, out: self.keep("mlp_out", layer, _first(out)))]

    def stacked(self) -> dict[str, torch.Tensor]:
        missing = [name for name, layers in self.seen.items() if any(v is None for v in layers)]
        if missing:
            raise UnsupportedAttention(f"the forward pass never reached the hooks for {', '.join(missing)}",
                                       field="model")
        return {name: torch.stack(layers) for name, layers in self.seen.items()}


def effective_projection(projection: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (D, K), bias (D,)) float32 of an affine module as it computes now: a plain Linear's own weight, or
    for an adapter-wrapped one (PEFT LoRA) the identity fed through its forward, so the adapter is merged in."""
    if type(projection) is torch.nn.Linear:
        w = projection.weight.detach().float()
        b = projection.bias.detach().float() if projection.bias is not None else torch.zeros_like(w[:, 0])
        return w, b
    param = next(projection.parameters())
    k = int(getattr(projection, "in_features", 0) or projection.get_base_layer().in_features)
    probe = torch.eye(k + 1, k, dtype=param.dtype, device=param.device)   # rows: e_1 .. e_k, then 0
    out = projection(probe).float()                                      # (k + 1, D)
    return (out[:k] - out[k]).T.contiguous(), out[k]


def _run_traced(loaded: LoadedModel, ids: list[int]) -> tuple[dict[str, torch.Tensor], bool]:
    """One forward pass with hooks on every layer (eager attention, the stream read up to the last layer);
    returns the recorded tensors plus the effective output projections, and whether layers are pre-norm."""
    mods = layer_modules(loaded.model)
    recorder = _TraceRecorder(len(mods))
    with loaded.lock:
        run_hooked(loaded, ids, lambda: [h for i, m in enumerate(mods) for h in recorder.attach(i, m)],
                   weights_from_layers(loaded, [m.attention for m in mods], set(range(len(mods)))))
        with torch.inference_mode():  # after the hooks are gone: probing a wrapped projection runs its forward
            projections = [effective_projection(m.output) for m in mods]
    tensors = recorder.stacked()
    tensors["out_weight"] = torch.stack([w for w, _ in projections])
    tensors["out_bias"] = torch.stack([b for _, b in projections])
    return tensors, all(m.pre_norm for m in mods)


def trace_contributions(loaded: LoadedModel, text: str, *, adapter=None, chat: bool = False,
                        max_tokens: int | None = None) -> ContributionTrace:
    """Every head's and MLP's contribution at every position of `text`, from one forward pass (eager attention)
    with hooks on the model's own modules; `adapter` (registry name, folder or AdapterInfo) is active during it."""
    start = time.perf_counter()
    full_text, ids, _ = encode_text(loaded, text, max_tokens=max_tokens, chat=chat)
    info = adapters.resolve(adapter) if isinstance(adapter, str) else adapter
    with adapters.use_adapter(loaded, info) as active:
        tensors, pre_norm = _run_traced(loaded, ids)
    n_heads = int(tensors["pattern"].shape[1])
    head_dim = int(tensors["mixed"].shape[-1]) // n_heads
    return ContributionTrace(
        model_name=loaded.info.name, text=full_text, tokens=token_labels(loaded.tokenizer, ids),
        input_ids=np.asarray(ids, dtype=np.int64), n_layers=int(tensors["layer_in"].shape[0]), n_heads=n_heads,
        kv_heads=int(tensors["values"].shape[-1]) // head_dim, head_dim=head_dim, pre_norm=pre_norm,
        causal=loaded.kind == "causal", adapter=active, has_bias=bool(tensors["out_bias"].abs().max() > 0),
        seconds=time.perf_counter() - start, adapter_info=info, **tensors)


# --- importance (Ferrando & Voita 2024, eq. 2) --------------------------------------------------------------

def proximity(components: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """max(0, ‖y‖₁ − ‖y − c‖₁) of components c (..., D) of a block output y broadcast against them -> (...)."""
    return (total.abs().sum(-1) - (total - components).abs().sum(-1)).clamp_min(0)


def _normalised(prox: torch.Tensor, dim) -> torch.Tensor:
    return prox / prox.sum(dim, keepdim=True).clamp_min(1e-12)


def _require_graph_model(trace: ContributionTrace) -> None:
    if not trace.pre_norm:
        raise UnsupportedAttention(f"{trace.model_name} normalises after each block (post-norm), so its residual "
                                   "stream is not a sum of components: the contribution graph needs a pre-norm "
                                   "model (Llama-style)", field="model")


def check_token(trace: ContributionTrace, token: int | None) -> int:
    """A token position in range; None is the last token, negative counts from the end."""
    if token is None:
        return trace.n_tokens - 1
    position = int(token) + (trace.n_tokens if int(token) < 0 else 0)
    if not 0 <= position < trace.n_tokens:
        raise InvalidSetting(f"token {token} is out of range: the text has {trace.n_tokens} tokens "
                             f"(0..{trace.n_tokens - 1})", field="token")
    return position


def mlp_importance(trace: ContributionTrace, layer: int) -> torch.Tensor:
    """(2, T): importance of the residual stream (row 0) and of the MLP (row 1) for the layer's output."""
    key = ("mlp", layer)
    if key not in trace.cache:
        _require_graph_model(trace)
        mid = trace.attention_mid(layer)                                      # (T, D)
        parts = torch.stack([mid, trace.mlp_out[layer]])                      # (2, T, D)
        trace.cache[key] = _normalised(proximity(parts, (mid + trace.mlp_out[layer])[None]), 0)
    return trace.cache[key]


def head_importance(trace: ContributionTrace, layer: int) -> torch.Tensor:
    """(1 + H [+ 1], T): importance of the residual stream, each head [and the output bias] for the stream after
    the attention block."""
    key = ("heads", layer)
    if key not in trace.cache:
        _require_graph_model(trace)
        x = trace.layer_in[layer]
        parts = [x[None], trace.head_contributions(layer)]                    # (1, T, D), (H, T, D)
        if trace.has_bias:
            parts.append(trace.out_bias[layer].expand_as(x)[None])
        trace.cache[key] = _normalised(proximity(torch.cat(parts), trace.attention_mid(layer)[None]), 0)
    return trace.cache[key]


def attention_edges(trace: ContributionTrace, layer: int, positions: list[int]) -> dict[int, tuple[float, np.ndarray]]:
    """For each query position i: (importance of the residual stream, (H, i + 1) importance of each edge j -> i
    through head h), normalised together (with the output bias when there is one) for the stream after the
    attention block. Computed in chunks of positions; kept in the trace's cache."""
    _require_graph_model(trace)
    todo = sorted(i for i in set(positions) if ("edges", layer, i) not in trace.cache)
    if todo:
        f = trace.value_contributions(layer)                                  # (H, T, D)
        pattern = trace.pattern[layer]
        mid, x = trace.attention_mid(layer), trace.layer_in[layer]
        h, _, d = f.shape
        step = max(1, EDGE_CHUNK_ELEMENTS // (h * (todo[-1] + 1) * d))
        for start in range(0, len(todo), step):
            chunk = todo[start:start + step]
            keys = chunk[-1] + 1
            alpha = pattern[:, chunk, :keys].float()                          # (H, P, K); 0 past each query
            y = mid[chunk]                                                    # (P, D)
            edges = proximity(alpha[..., None] * f[:, None, :keys], y[None, :, None])   # (H, P, K)
            rest = proximity(x[chunk], y)                                     # (P,)
            if trace.has_bias:
                rest = rest + proximity(trace.out_bias[layer], y)
            total = (edges.sum((0, 2)) + rest).clamp_min(1e-12)               # (P,)
            for n, i in enumerate(chunk):
                trace.cache["edges", layer, i] = (float(proximity(x[i], y[n]) / total[n]),
                                                  (edges[:, n, :i + 1] / total[n]).cpu().numpy())
    return {i: trace.cache["edges", layer, i] for i in positions}


def component_importance(trace: ContributionTrace, token: int | None = None) -> pd.DataFrame:
    """layer, block, component, head, importance: every layer's components at one token (each block's
    importances sum to 1)."""
    i = check_token(trace, token)
    rows = []
    for layer in range(trace.n_layers):
        heads = head_importance(trace, layer)[:, i].tolist()
        rows.append((layer, "attention", "residual", -1, heads[0]))
        rows += [(layer, "attention", f"head {h}", h, heads[1 + h]) for h in range(trace.n_heads)]
        if trace.has_bias:
            rows.append((layer, "attention", "bias", -1, heads[-1]))
        mlp = mlp_importance(trace, layer)[:, i].tolist()
        rows += [(layer, "mlp", "residual", -1, mlp[0]), (layer, "mlp", "mlp", -1, mlp[1])]
    return pd.DataFrame(rows, columns=["layer", "block", "component", "head", "importance"])


# --- the graph ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GraphNode:
    """A state of the residual stream at one token."""

    layer: int      # stage "in": the stream entering this layer (n_layers: the model's last stream)
    stage: str      # "in", or "mid": after this layer's attention block
    position: int   # token position

    @property
    def level(self) -> float:
        """Height in the drawing: the layer, plus one half after the attention block."""
        return self.layer + (0.5 if self.stage == "mid" else 0.0)


@dataclass(frozen=True)
class GraphEdge:
    """One kept edge: attention blocks go from stream "in" at `source` to "mid" at `target`, MLP blocks from
    "mid" to the next layer's "in" at the same token."""

    layer: int
    block: str          # "attention" or "mlp"
    kind: str           # "head", "residual" or "mlp"
    head: int           # query head of a "head" edge, else -1
    source: int         # token position the information comes from
    target: int         # token position it reaches
    importance: float   # share of the block output at `target` (Ferrando & Voita proximity, normalised)

    @property
    def source_node(self) -> GraphNode:
        return GraphNode(self.layer, "in" if self.block == "attention" else "mid", self.source)

    @property
    def target_node(self) -> GraphNode:
        if self.block == "attention":
            return GraphNode(self.layer, "mid", self.target)
        return GraphNode(self.layer + 1, "in", self.target)


EDGE_COLUMNS = ["layer", "block", "kind", "head", "source", "target", "source_token", "target_token", "importance"]


@dataclass(frozen=True, eq=False)
class ContributionGraph:
    """The edges above `threshold` reached walking down from `token` at the last layer, and their nodes."""

    model_name: str
    tokens: list[str]
    token: int
    threshold: float
    n_layers: int
    adapter: str | None
    nodes: list[GraphNode]
    edges: list[GraphEdge]

    def to_frame(self) -> pd.DataFrame:
        """One row per edge (see EDGE_COLUMNS)."""
        rows = [(e.layer, e.block, e.kind, e.head, e.source, e.target, self.tokens[e.source], self.tokens[e.target],
                 e.importance) for e in self.edges]
        return pd.DataFrame(rows, columns=EDGE_COLUMNS)

    def nodes_frame(self) -> pd.DataFrame:
        return pd.DataFrame([(n.layer, n.stage, n.position, self.tokens[n.position], n.level) for n in self.nodes],
                            columns=["layer", "stage", "position", "token", "level"])


def check_threshold(threshold: float) -> float:
    if not 0 <= float(threshold) < 1:
        raise InvalidSetting(f"`threshold` must be in [0, 1), got {threshold}", field="threshold")
    return float(threshold)


def _mlp_block(trace: ContributionTrace, layer: int, positions: set[int], threshold: float) -> list[GraphEdge]:
    importance = mlp_importance(trace, layer)
    edges = []
    for i in sorted(positions):
        residual, mlp = importance[0, i].item(), importance[1, i].item()
        if residual > threshold:
            edges.append(GraphEdge(layer, "mlp", "residual", -1, i, i, residual))
        if mlp > threshold:
            edges.append(GraphEdge(layer, "mlp", "mlp", -1, i, i, mlp))
    return edges


def _attention_block(trace: ContributionTrace, layer: int, positions: set[int], threshold: float) -> list[GraphEdge]:
    edges = []
    for i, (residual, heads) in attention_edges(trace, layer, sorted(positions)).items():
        if residual > threshold:
            edges.append(GraphEdge(layer, "attention", "residual", -1, i, i, residual))
        for h, j in zip(*np.nonzero(heads > threshold)):
            edges.append(GraphEdge(layer, "attention", "head", int(h), int(j), i, float(heads[h, j])))
    return edges


def contribution_graph(trace: ContributionTrace, token: int | None = None,
                       threshold: float = DEFAULT_THRESHOLD) -> ContributionGraph:
    """From `token` at the last layer down to the embeddings, block by block: keep the edges whose importance is
    above `threshold` into a node already reached. No forward pass: a new threshold or token reuses the trace."""
    _require_graph_model(trace)
    i, threshold = check_token(trace, token), check_threshold(threshold)
    reached = {i}
    edges: list[GraphEdge] = []
    nodes = {GraphNode(trace.n_layers, "in", i)}
    for layer in reversed(range(trace.n_layers)):
        for block in (_mlp_block, _attention_block):
            kept = block(trace, layer, reached, threshold)
            edges += kept
            reached = {e.source for e in kept}
            nodes |= {e.source_node for e in kept}
    return ContributionGraph(model_name=trace.model_name, tokens=trace.tokens, token=i, threshold=threshold,
                             n_layers=trace.n_layers, adapter=trace.adapter,
                             nodes=sorted(nodes, key=lambda n: (n.level, n.position)), edges=edges)


# --- vocabulary projection ----------------------------------------------------------------------------------

FINAL_NORMS = ("model.norm", "transformer.ln_f", "gpt_neox.final_layer_norm", "model.final_layernorm")


@dataclass(frozen=True, eq=False)
class VocabularyProjection:
    """A component's vector through the final norm and the output embedding: the tokens it pushes up and down."""

    layer: int
    component: str
    position: int
    promoted: list[str]             # top-k tokens, highest logit first
    promoted_logits: np.ndarray     # (k,)
    suppressed: list[str]           # bottom-k tokens, lowest logit first
    suppressed_logits: np.ndarray   # (k,)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"rank": np.arange(1, len(self.promoted) + 1), "promoted": self.promoted,
                             "promoted_logit": self.promoted_logits, "suppressed": self.suppressed,
                             "suppressed_logit": self.suppressed_logits})


def final_norm(model: torch.nn.Module) -> torch.nn.Module:
    """The norm a causal model applies before its output embedding."""
    for path in FINAL_NORMS:
        try:
            return model.get_submodule(path)
        except AttributeError:
            continue
    raise UnsupportedAttention(f"no final norm found in {type(model).__name__} (looked for {', '.join(FINAL_NORMS)})",
                               field="model")


def component_vector(trace: ContributionTrace, layer: int, component: str, position: int) -> torch.Tensor:
    """(D,) one component at one token: "residual" (the stream entering the layer), "attention", "mlp",
    "head N"."""
    if not 0 <= int(layer) < trace.n_layers:
        raise InvalidSetting(f"layer {layer} is out of range 0..{trace.n_layers - 1}", field="layer")
    vectors = {"residual": trace.layer_in, "attention": trace.attention_out, "mlp": trace.mlp_out}
    if component in vectors:
        return vectors[component][layer, position]
    name, _, number = component.partition(" ")
    if name != "head" or not number.isdigit():
        raise InvalidSetting(f"unknown component {component!r}; choose residual, attention, mlp or 'head N'",
                             field="component")
    h = check_head(trace.n_heads, int(number))
    w = trace.out_weight[layer].view(-1, trace.n_heads, trace.head_dim)[:, h]         # (D, d)
    return w @ trace.mixed[layer, position].view(trace.n_heads, trace.head_dim)[h]


def vocabulary_projection(loaded: LoadedModel, trace: ContributionTrace, layer: int, component: str,
                          position: int | None = None, k: int = 10) -> VocabularyProjection:
    """Top-k promoted and suppressed tokens of one component's vector (logit lens on the component)."""
    i = check_token(trace, position)
    vector = component_vector(trace, layer, component, i)
    head = loaded.model.get_output_embeddings()
    if head is None:
        raise UnsupportedAttention(f"{trace.model_name} has no output embedding to project onto", field="model")
    with adapters.use_adapter(loaded, trace.adapter_info), torch.inference_mode():
        norm = final_norm(loaded.model)
        dtype = next(head.parameters()).dtype
        logits = head(norm(vector.to(device=loaded.device, dtype=dtype)[None]))[0].float().cpu()  # (V,)
    k = max(1, min(int(k), logits.shape[0]))
    top, bottom = logits.topk(k), logits.topk(k, largest=False)
    return VocabularyProjection(
        layer=int(layer), component=component, position=i,
        promoted=token_labels(loaded.tokenizer, top.indices.tolist()), promoted_logits=top.values.numpy(),
        suppressed=token_labels(loaded.tokenizer, bottom.indices.tolist()), suppressed_logits=bottom.values.numpy())
