"""Attention figures: one-head heatmap, layer x head thumbnail grid, statistics heatmap, distance histograms,
sinks, token focus lines, the math of one row. Pure functions: arrays in, `go.Figure` out; values rounded so the
JSON stays small."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

MASK_COLOUR = "#d9d9d9"   # what the browser shows where the causal mask hides a key
HEAD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#843c39", "#5254a3", "#6b6ecf"]
KIND_MARK = {"previous-token": "P", "sink": "S", "self": "=", "broad": "B", "mixed": ""}


def position_labels(tokens: list[str], positions: np.ndarray | list[int]) -> list[str]:
    """Unique axis labels "12 ␣cat" (plotly merges equal category labels, and tokens repeat)."""
    return [f"{int(i)} {tokens[int(i)]}" for i in positions]


def _rounded(z: np.ndarray, digits: int = 4) -> np.ndarray:
    return np.round(np.asarray(z, dtype=np.float64), digits)


def head_heatmap(matrix: np.ndarray, query_labels: list[str], key_labels: list[str], *, title: str,
                 masked: np.ndarray | None = None, zmax: float | None = None) -> go.Figure:
    """Query x key heatmap with exact weights on hover; cells in `masked` (bool, same shape) drawn grey."""
    z = _rounded(matrix).astype(object)
    if masked is not None:
        z[masked] = None                                   # gaps show the grey plot background
    fig = go.Figure(go.Heatmap(
        z=z.tolist(), x=key_labels, y=query_labels, colorscale="Viridis", zmin=0, zmax=zmax,
        hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>",
        colorbar={"title": "weight"}, hoverongaps=False))
    fig.update_layout(title=title, plot_bgcolor=MASK_COLOUR, height=max(420, min(900, 14 * len(query_labels))),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    fig.update_yaxes(autorange="reversed", title="query (row)", type="category")
    fig.update_xaxes(title="key (column)", type="category", tickangle=-60)
    if masked is not None and masked.any():
        fig.add_annotation(text="grey: hidden by the causal mask", xref="paper", yref="paper", x=1, y=1.06,
                           showarrow=False, font={"size": 11})
    return fig


def thumbnail_grid(overview: np.ndarray, statistics: pd.DataFrame | None = None, *,
                   causal: bool = False, selected: tuple[int, int] | None = None) -> go.Figure:
    """All heads at a glance: (L, H, S, S) maps tiled as one image, each tile scaled to its own maximum; an
    invisible marker per tile carries (layer, head) for click selection. Layers run down and heads across, or,
    for a deep model with few heads (SmolLM2: 30 x 9), layers across so the grid fills the page's width."""
    n_layers, n_heads, s, _ = overview.shape
    across_layers = n_layers > 1.5 * n_heads
    n_rows, n_cols = (n_heads, n_layers) if across_layers else (n_layers, n_heads)
    gap = 1
    step = s + gap
    tiles = np.asarray(overview, dtype=np.float32)
    tiles = tiles / np.maximum(tiles.max(axis=(-1, -2), keepdims=True), 1e-9)   # (L, H, S, S) in 0..1
    image = np.full((n_rows * step - gap, n_cols * step - gap), np.nan, dtype=np.float64)
    layer_idx, head_idx = np.divmod(np.arange(n_layers * n_heads), n_heads)
    row_idx, col_idx = (head_idx, layer_idx) if across_layers else (layer_idx, head_idx)
    for layer, head, row, col in zip(layer_idx, head_idx, row_idx, col_idx):
        image[row * step: row * step + s, col * step: col * step + s] = tiles[layer, head]
    z = np.round(image, 2).astype(object)
    z[np.isnan(image)] = None
    fig = go.Figure(go.Heatmap(z=z.tolist(), colorscale="Viridis", showscale=False, hoverinfo="skip",
                               zmin=0, zmax=1))
    hover = [f"layer {l}, head {h}" for l, h in zip(layer_idx, head_idx)]
    if statistics is not None:
        kinds = statistics.set_index(["layer", "head"])["label"]
        hover = [f"{t}: {kinds.get((l, h), '')}" for t, l, h in zip(hover, layer_idx, head_idx)]
    fig.add_trace(go.Scatter(
        x=col_idx * step + (s - 1) / 2, y=row_idx * step + (s - 1) / 2, mode="markers",
        marker={"size": max(8, min(40, 4 * s)), "symbol": "square", "color": "rgba(0,0,0,0.01)"},
        customdata=[[int(l), int(h)] for l, h in zip(layer_idx, head_idx)], text=hover,
        hovertemplate="%{text}<extra></extra>",
        showlegend=False))
    if selected is not None:
        row, col = selected[::-1] if across_layers else selected
        fig.add_shape(type="rect", x0=col * step - 0.5 - gap / 2, x1=col * step + s - 0.5 + gap / 2,
                      y0=row * step - 0.5 - gap / 2, y1=row * step + s - 0.5 + gap / 2,
                      line={"color": "#ff2d55", "width": 2})
    row_names, col_names = ("H", "L") if across_layers else ("L", "H")
    # constrain="domain": square tiles shrink the plot area, never pad the range (no empty band above row 0)
    fig.update_xaxes(tickvals=np.arange(n_cols) * step + (s - 1) / 2,
                     ticktext=[f"{col_names}{i}" for i in range(n_cols)], side="top", showgrid=False,
                     zeroline=False, constrain="domain")
    fig.update_yaxes(tickvals=np.arange(n_rows) * step + (s - 1) / 2,
                     ticktext=[f"{row_names}{i}" for i in range(n_rows)], autorange="reversed", showgrid=False,
                     zeroline=False, scaleanchor="x", constrain="domain")
    tile_px = min(48, max(20, 800 // n_cols))                     # square tiles, the grid within ~870 px
    fig.update_layout(height=tile_px * n_rows + 100, width=tile_px * n_cols + 70, plot_bgcolor="white",
                      margin={"l": 10, "r": 10, "t": 80, "b": 10}, dragmode=False,
                      title="Click a head to open it" + (" (causal: lower triangles)" if causal else "")
                      + (" · layers across" if across_layers else ""))
    return fig


def statistics_heatmap(statistics: pd.DataFrame, value: str) -> go.Figure:
    """Layer x head heatmap of one statistic, each cell marked with its head kind (P, S, =, B)."""
    table = statistics.pivot(index="layer", columns="head", values=value)
    kinds = statistics.pivot(index="layer", columns="head", values="label")
    marks = kinds.map(lambda k: KIND_MARK.get(k, "")).to_numpy()
    fig = go.Figure(go.Heatmap(
        z=_rounded(table.to_numpy(), 3).tolist(), x=[f"H{h}" for h in table.columns],
        y=[f"L{l}" for l in table.index], text=marks.tolist(), texttemplate="%{text}",
        customdata=kinds.to_numpy().tolist(), colorscale="Cividis", colorbar={"title": value},
        hovertemplate="%{y} %{x}<br>" + value + " %{z}<br>%{customdata}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=f"{value} by layer and head (P previous-token, S sink, = self, B broad)",
                      height=min(1200, max(360, 22 * len(table) + 100)), margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def distance_heatmap(shares: np.ndarray, bins: list[str], row_labels: list[str], title: str) -> go.Figure:
    """Rows (heads, or layers) x log-spaced |query - key| bins: the share of each row's attention at that distance
    (each row sums to 1), so local heads light up on the left and long-range heads on the right."""
    fig = go.Figure(go.Heatmap(z=_rounded(shares, 3).tolist(), x=bins, y=row_labels, colorscale="Viridis",
                               zmin=0, colorbar={"title": "share"},
                               hovertemplate="%{y}, distance %{x}: %{z}<extra></extra>"))
    fig.update_xaxes(type="category", title="distance |query - key| in tokens")
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(title=title, height=min(900, max(300, 22 * len(row_labels) + 120)),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def sink_heatmap(share: np.ndarray, keys: np.ndarray, tokens: list[str], threshold: float) -> go.Figure:
    """Layer x head heatmap of the share of attention each head's strongest key takes, that key's position written
    in the cells at or above `threshold` (the sinks) and named on hover."""
    text = [[str(int(k)) if v >= threshold else "" for v, k in zip(vs, ks)] for vs, ks in zip(share, keys)]
    names = [[f"{int(k)} {tokens[int(k)]}" for k in ks] for ks in keys]
    fig = go.Figure(go.Heatmap(
        z=_rounded(share, 3).tolist(), x=[f"H{h}" for h in range(share.shape[1])],
        y=[f"L{l}" for l in range(share.shape[0])], text=text, texttemplate="%{text}", customdata=names,
        colorscale="Cividis", zmin=0, zmax=1, colorbar={"title": "share"},
        hovertemplate="%{y} %{x}: %{z} of the attention on key %{customdata}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=f"Strongest key's share of each head's attention (key position written where "
                            f"≥ {threshold:g}: a sink)",
                      height=min(1200, max(360, 22 * share.shape[0] + 100)),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def token_lines(weights: np.ndarray, tokens: list[str], positions: np.ndarray, focus: int, *,
                direction: str = "attends to", top: int = 8, min_weight: float = 0.02,
                max_rows: int = 48) -> go.Figure:
    """bertviz-style line view: the focus token on the left, the tokens on the right, one colour per head,
    line width by weight; `weights` is (H, K) over `positions`. Past `max_rows` positions only the strongest
    (by their largest weight over heads) are listed, in text order with the focus token, so the chart stays
    one screen tall at any length."""
    fig = go.Figure()
    positions, total = np.asarray(positions), len(positions)
    if total > max_rows:
        weights = np.asarray(weights, dtype=np.float32)
        keep = set(np.argsort(weights.max(axis=0))[::-1][:max_rows - 1].tolist())
        keep |= set(np.flatnonzero(positions == focus).tolist())
        keep = np.array(sorted(keep))
        weights, positions = weights[:, keep], positions[keep]
    n = len(positions)
    y = np.arange(n)
    labels = position_labels(tokens, positions)
    focus_row = int(np.searchsorted(positions, focus))
    for head, row in enumerate(np.asarray(weights, dtype=np.float32)):
        best = [k for k in np.argsort(row)[::-1][:top] if row[k] >= min_weight]
        for k in best:
            fig.add_trace(go.Scatter(
                x=[0, 1], y=[focus_row, y[k]], mode="lines", legendgroup=f"h{head}", showlegend=False,
                line={"color": HEAD_COLOURS[head % len(HEAD_COLOURS)], "width": 1 + 10 * float(row[k])},
                opacity=0.35 + 0.65 * float(row[k]),
                hovertemplate=f"head {head}: {labels[focus_row]} {direction} {labels[k]}: {row[k]:.3f}"
                              "<extra></extra>"))
    for head in range(len(weights)):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"head {head}",
                                 line={"color": HEAD_COLOURS[head % len(HEAD_COLOURS)], "width": 4}))
    fig.add_trace(go.Scatter(x=np.zeros(n), y=y, mode="text", text=labels, textposition="middle left",
                             showlegend=False, hoverinfo="skip",
                             textfont={"color": ["#ff2d55" if i == focus_row else "#444" for i in range(n)]}))
    fig.add_trace(go.Scatter(x=np.ones(n), y=y, mode="text", text=labels, textposition="middle right",
                             showlegend=False, hoverinfo="skip"))
    fig.update_xaxes(visible=False, range=[-0.8, 1.8])
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_layout(height=max(300, 18 * n + 80), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title=f"{labels[focus_row]} {direction} … (width = weight, one colour per head)"
                      + (f" · the {n} strongest of {total} tokens" if total > n else ""))
    return fig


def layers_by_key(weights: np.ndarray, key_labels: list[str], title: str) -> go.Figure:
    """(L, K) heatmap: how the focus token's attention (mean over heads) moves across layers."""
    fig = go.Figure(go.Heatmap(z=_rounded(weights, 3).tolist(), x=key_labels,
                               y=[f"L{l}" for l in range(len(weights))], colorscale="Viridis",
                               hovertemplate="%{y} key %{x}: %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(type="category")
    fig.update_layout(title=title, height=min(900, 20 * len(weights) + 120),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def attribution_bars(tokens: list[str], scores: np.ndarray, *, title: str,
                     visible: int | None = None) -> go.Figure:
    """One bar per input token: red pushes the output up, blue down; tokens the output cannot see greyed."""
    scores = np.asarray(scores, dtype=np.float64)
    visible = len(scores) if visible is None else visible
    colours = [MASK_COLOUR if i >= visible else ("#d62728" if v > 0 else "#1f77b4") for i, v in enumerate(scores)]
    labels = position_labels(tokens, range(len(tokens)))
    fig = go.Figure(go.Bar(x=labels, y=_rounded(scores, 5), marker_color=colours,
                           hovertemplate="%{x}: %{y:.5f}<extra></extra>"))
    fig.update_xaxes(type="category", tickangle=-60)
    fig.update_layout(title=title, yaxis_title="attribution", height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def attribution_strips(tokens: list[str], scores: dict[str, np.ndarray], names: dict[str, str]) -> go.Figure:
    """Methods x tokens heat strips, each row divided by its largest |value| (methods differ in scale); the
    raw value on hover. Rollout has no sign, so its row is 0..1."""
    methods = list(scores)
    raw = np.stack([np.asarray(scores[m], dtype=np.float64) for m in methods])            # (M, T)
    scaled = raw / np.maximum(np.abs(raw).max(-1, keepdims=True), 1e-12)
    fig = go.Figure(go.Heatmap(
        z=_rounded(scaled, 3).tolist(), x=position_labels(tokens, range(len(tokens))),
        y=[names.get(m, m) for m in methods], customdata=_rounded(raw, 5).tolist(), colorscale="RdBu",
        reversescale=True, zmin=-1, zmax=1, colorbar={"title": "share of max"},
        hovertemplate="%{y}<br>%{x}: %{customdata}<extra></extra>"))
    fig.update_xaxes(type="category", tickangle=-60)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Each method's attribution per token (row scaled to its largest |value|)",
                      height=140 + 40 * len(methods), margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def correlation_matrix(correlations: pd.DataFrame, names: dict[str, str], *, threshold: float) -> go.Figure:
    """Spearman rank correlations between methods, annotated; cells below `threshold` marked with "!"."""
    values = correlations.to_numpy(dtype=np.float64)
    text = [["" if not np.isfinite(v) else f"{v:.2f}" + (" !" if v < threshold else "") for v in row]
            for row in values]
    labels = [names.get(m, m) for m in correlations.columns]
    z = _rounded(values, 3).astype(object)
    z[~np.isfinite(values)] = None
    fig = go.Figure(go.Heatmap(z=z.tolist(), x=labels, y=labels, text=text, texttemplate="%{text}",
                               colorscale="RdBu", zmin=-1, zmax=1, colorbar={"title": "Spearman ρ"},
                               hovertemplate="%{y} vs %{x}: ρ = %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=f"Rank correlation of |attribution| (! below {threshold:g}: the methods disagree)",
                      height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def row_math_figure(scores: np.ndarray, weights: np.ndarray, visible: np.ndarray, key_labels: list[str]) -> go.Figure:
    """Scores q·k/√d_k (masked keys greyed) and their softmax weights for one query row."""
    colours = np.where(visible, "#4c78a8", MASK_COLOUR)
    fig = go.Figure()
    fig.add_trace(go.Bar(x=key_labels, y=_rounded(scores, 4), name="score q·k/√d_k", marker_color=colours,
                         yaxis="y"))
    fig.add_trace(go.Scatter(x=key_labels, y=_rounded(weights, 4), name="softmax weight", mode="lines+markers",
                             yaxis="y2", line={"color": "#f58518"}))
    fig.update_layout(yaxis={"title": "score"}, yaxis2={"title": "weight", "overlaying": "y", "side": "right",
                                                        "range": [0, 1.05]},
                      xaxis={"type": "category", "tickangle": -60}, height=420,
                      legend={"orientation": "h", "y": 1.12}, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def generation_step(alternatives: list[str], probs: np.ndarray, entropy: np.ndarray, step: int,
                    step_labels: list[str]) -> go.Figure:
    """Left: the top-k next tokens at one generation step with their probabilities (the chosen one first, red).
    Right: the entropy of every step's next-token distribution, the current step marked."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, column_widths=[0.4, 0.6], horizontal_spacing=0.12,
                        subplot_titles=[f"Step {step}: top {len(alternatives)} next tokens",
                                        "Entropy of the next-token distribution (nats)"])
    colours = ["#d62728"] + ["#4c78a8"] * (len(alternatives) - 1)
    fig.add_trace(go.Bar(x=_rounded(probs, 4).tolist(), y=alternatives, orientation="h", marker_color=colours,
                         hovertemplate="%{y}: p = %{x:.4f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=list(range(len(entropy))), y=_rounded(entropy, 3).tolist(), mode="lines+markers",
                             text=step_labels, hovertemplate="step %{x} %{text}: %{y:.3f} nats<extra></extra>",
                             marker_color="#4c78a8"), row=1, col=2)
    fig.add_trace(go.Scatter(x=[step], y=[float(entropy[step])], mode="markers", marker={"size": 14,
                             "color": "#d62728"}, hoverinfo="skip"), row=1, col=2)
    fig.update_yaxes(autorange="reversed", type="category", row=1, col=1)
    fig.update_xaxes(range=[0, 1], title="probability", row=1, col=1)
    fig.update_xaxes(title="step", row=1, col=2)
    fig.update_layout(height=320, showlegend=False, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


RESIDUAL_COLOUR = "#9e9e9e"   # residual edges of the contribution graph
MLP_COLOUR = "#e45756"        # MLP edges and the MLP marks beside the stream


def _edge_path(edge: pd.Series) -> tuple[list[float], list[float], float, float]:
    """x, y of one graph edge (y = layer, + 0.5 after attention) and the point its hover marker sits on; an MLP
    edge detours through the MLP mark to the right of the stream."""
    if edge["block"] == "attention":
        x, y = [edge["source"], edge["target"]], [edge["layer"], edge["layer"] + 0.5]
    elif edge["kind"] == "mlp":
        x, y = [edge["source"], edge["source"] + 0.3, edge["target"]], [edge["layer"] + 0.5, edge["layer"] + 0.75,
                                                                         edge["layer"] + 1]
    else:
        x, y = [edge["source"], edge["target"]], [edge["layer"] + 0.5, edge["layer"] + 1]
    if len(x) == 3:
        return x, y, x[1], y[1]
    return x, y, (x[0] + x[1]) / 2, (y[0] + y[1]) / 2


def _edge_colour(edge: pd.Series) -> str:
    if edge["kind"] == "head":
        return HEAD_COLOURS[int(edge["head"]) % len(HEAD_COLOURS)]
    return MLP_COLOUR if edge["kind"] == "mlp" else RESIDUAL_COLOUR


def contribution_graph(nodes: pd.DataFrame, edges: pd.DataFrame, tokens: list[str], n_layers: int, *,
                       title: str) -> go.Figure:
    """Information-flow graph: tokens across, layers up (x.5 = after the attention block), one line per kept
    edge, width = importance; head edges coloured by head, residual grey, MLP red. A hover marker in the middle
    of each edge carries [layer, head, source, target] for click selection (head -1: no head)."""
    fig = go.Figure()
    groups: dict[tuple[str, int], tuple[list, list]] = {}
    hover_x, hover_y, hover_text, custom = [], [], [], []
    for _, edge in edges.iterrows():
        x, y, hx, hy = _edge_path(edge)
        xs, ys = groups.setdefault((_edge_colour(edge), int(round(10 * float(edge["importance"])))), ([], []))
        xs += [*x, None]
        ys += [*y, None]
        what = f"head {edge['head']}" if edge["kind"] == "head" else edge["kind"]
        hover_x.append(hx)
        hover_y.append(hy)
        hover_text.append(f"layer {edge['layer']} {edge['block']}, {what}: {edge['source']} {edge['source_token']} "
                          f"→ {edge['target']} {edge['target_token']}: {float(edge['importance']):.3f}")
        custom.append([int(edge["layer"]), int(edge["head"]), int(edge["source"]), int(edge["target"])])
    for (colour, bucket), (xs, ys) in sorted(groups.items()):
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": colour, "width": 1 + 0.9 * bucket},
                                 opacity=0.45 + 0.05 * bucket, hoverinfo="skip", showlegend=False))
    mlp = edges[edges["kind"] == "mlp"]
    fig.add_trace(go.Scatter(x=mlp["source"] + 0.3, y=mlp["layer"] + 0.75, mode="markers", hoverinfo="skip",
                             marker={"symbol": "square", "size": 7, "color": MLP_COLOUR}, showlegend=False))
    fig.add_trace(go.Scatter(x=nodes["position"], y=nodes["level"], mode="markers", showlegend=False,
                             marker={"size": 7, "color": "#4c78a8"},
                             text=[f"{p} {t}, {'after attention of layer' if s == 'mid' else 'entering layer'} {lay}"
                                   for p, t, s, lay in zip(nodes["position"], nodes["token"], nodes["stage"],
                                                           nodes["layer"])],
                             hovertemplate="%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(x=hover_x, y=hover_y, mode="markers", marker={"size": 9, "color": "rgba(0,0,0,0.01)"},
                             text=hover_text, customdata=custom, hovertemplate="%{text}<extra></extra>",
                             showlegend=False))
    for head in sorted(edges.loc[edges["kind"] == "head", "head"].unique()):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"head {head}",
                                 line={"color": HEAD_COLOURS[int(head) % len(HEAD_COLOURS)], "width": 4}))
    for name, colour in (("residual", RESIDUAL_COLOUR), ("MLP", MLP_COLOUR)):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, line={"color": colour, "width": 4}))
    shown = sorted(set(nodes["position"]))
    fig.update_xaxes(tickvals=shown, ticktext=position_labels(tokens, shown), tickangle=-60, showgrid=False,
                     title="token")
    fig.update_yaxes(tickvals=list(range(n_layers + 1)), ticktext=[f"L{l}" for l in range(n_layers)] + ["out"],
                     title="layer (stream entering it; .5 = after attention)", zeroline=False)
    fig.update_layout(title=title, height=min(1400, max(420, 28 * n_layers + 160)), plot_bgcolor="white",
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend={"orientation": "h", "y": 1.02})
    return fig


def importance_heatmap(importance: pd.DataFrame, title: str) -> go.Figure:
    """Layer x component heatmap of the importance frame (residual, heads, MLP) at one token."""
    order = list(dict.fromkeys(f"{b}: {c}" for b, c in zip(importance["block"], importance["component"])))
    frame = importance.assign(column=[f"{b}: {c}" for b, c in zip(importance["block"], importance["component"])])
    table = frame.pivot(index="layer", columns="column", values="importance")[order]
    fig = go.Figure(go.Heatmap(z=_rounded(table.to_numpy(), 3).tolist(), x=order, y=[f"L{l}" for l in table.index],
                               colorscale="Viridis", zmin=0, zmax=1, colorbar={"title": "importance"},
                               hovertemplate="%{y} %{x}: %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=min(1200, max(360, 22 * len(table) + 120)),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def vocabulary_bars(promoted: list[str], promoted_logits: np.ndarray, suppressed: list[str],
                    suppressed_logits: np.ndarray, title: str) -> go.Figure:
    """The tokens a component pushes up (right) and down (left): its vector's logits after the final norm."""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=_rounded(promoted_logits, 3).tolist(), y=[f"+ {t}" for t in promoted], orientation="h",
                         marker_color="#4c78a8", name="promoted"))
    fig.add_trace(go.Bar(x=_rounded(suppressed_logits, 3).tolist(), y=[f"− {t}" for t in suppressed],
                         orientation="h", marker_color=MLP_COLOUR, name="suppressed"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="logit")
    fig.update_layout(title=title, height=max(320, 22 * (len(promoted) + len(suppressed)) + 100),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend={"orientation": "h", "y": 1.08})
    return fig


def contribution_delta_heatmap(delta: np.ndarray, adapter: str, title: str, *, value: str = "importance change",
                               ) -> go.Figure:
    """Layer x (heads, MLP) heatmap of adapter - base, red where the adapter leans on a component more, blue less;
    each cell carries [layer, head] (head -1 for the MLP) so a click can open the head."""
    n_layers, columns = delta.shape
    labels = [f"H{h}" for h in range(columns - 1)] + ["MLP"]
    heads = np.where(np.arange(columns) == columns - 1, -1, np.arange(columns))
    custom = [[[l, int(h)] for h in heads] for l in range(n_layers)]
    limit = float(np.abs(delta).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=_rounded(delta, 4).tolist(), x=labels, y=[f"L{l}" for l in range(n_layers)],
                               customdata=custom, colorscale="RdBu", reversescale=True, zmin=-limit, zmax=limit,
                               colorbar={"title": value},
                               hovertemplate=f"%{{y}} %{{x}}: %{{z}} ({adapter} - base)<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=min(1200, max(360, 22 * n_layers + 120)),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def attribution_delta_bars(tokens: list[str], base: np.ndarray, tuned: np.ndarray, adapter: str, *, title: str,
                           visible: int | None = None) -> go.Figure:
    """Each input token's attribution with the base model and with the adapter side by side, and their difference
    (adapter - base) as a line; tokens the output cannot see left out."""
    visible = len(tokens) if visible is None else visible
    labels = position_labels(tokens, range(visible))
    base, tuned = np.asarray(base[:visible], dtype=np.float64), np.asarray(tuned[:visible], dtype=np.float64)
    fig = go.Figure([go.Bar(x=labels, y=_rounded(base, 5).tolist(), name="base", marker_color="#9e9e9e"),
                     go.Bar(x=labels, y=_rounded(tuned, 5).tolist(), name=adapter, marker_color="#4c78a8"),
                     go.Scatter(x=labels, y=_rounded(tuned - base, 5).tolist(), name=f"{adapter} - base",
                                mode="lines+markers", line={"color": "#d62728"})])
    fig.update_xaxes(type="category", tickangle=-60)
    fig.update_layout(title=title, barmode="group", yaxis_title="attribution", height=420,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend={"orientation": "h", "y": 1.08})
    return fig
