"""Figures for the Compare page: log-prob shift per token (chart and coloured text), attention-diff heatmap,
and one head's base / adapter / difference maps."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

SHIFT_SCALE = 2.0  # nats at which the colour saturates


def _shift_colour(value: float, alpha_max: float = 0.85) -> str:
    alpha = min(abs(value) / SHIFT_SCALE, 1.0) * alpha_max
    rgb = "26,150,65" if value > 0 else "215,48,39"  # green: adapter made it likelier; red: less likely
    return f"rgba({rgb},{alpha:.2f})"


def shift_bars(tokens: list[str], shift: np.ndarray, logp_base: np.ndarray, logp_tuned: np.ndarray,
               adapter: str) -> go.Figure:
    """One bar per chosen token: log p(adapter) - log p(base), hover with both probabilities."""
    x = [f"{i}:{t}" for i, t in enumerate(tokens)]
    fig = go.Figure(go.Bar(
        x=x, y=shift, marker_color=[_shift_colour(v, 1.0) for v in shift],
        customdata=np.stack([np.exp(logp_base), np.exp(logp_tuned)], axis=1),
        hovertemplate="%{x}<br>shift %{y:+.3f} nats<br>p base %{customdata[0]:.3f}"
                      "<br>p adapter %{customdata[1]:.3f}<extra></extra>"))
    fig.update_layout(title=f"Log-probability shift of each chosen token ({adapter} minus base)",
                      yaxis_title="Δ log p (nats)", xaxis_title="token", height=340, margin=dict(t=50, b=40))
    fig.add_hline(y=0, line_color="grey", line_width=1)
    return fig


def shift_html(tokens: list[str], shift: np.ndarray) -> str:
    """The continuation as coloured spans (green: the adapter made the token likelier, red: less likely)."""
    spans = [f'<span title="{v:+.2f} nats" style="background:{_shift_colour(v)};padding:1px 2px;'
             f'border-radius:3px;margin:0 1px;font-family:monospace">{html.escape(t)}</span>'
             for t, v in zip(tokens, shift)]
    return '<div style="line-height:2.0">' + "".join(spans) + "</div>"


def divergence_heatmap(divergence: np.ndarray, layers: list[int], measure_name: str, adapter: str,
                       selected: tuple[int, int] | None = None) -> go.Figure:
    """Layers x heads, coloured by how much each head's attention changed; each cell carries [layer, head] as
    customdata, so a click opens that head (see `clicked_head`)."""
    heads = range(divergence.shape[1])
    fig = go.Figure(go.Heatmap(
        z=divergence, x=[f"H{h}" for h in heads], y=[f"L{layer}" for layer in layers],
        customdata=[[[int(layer), h] for h in heads] for layer in layers],  # (L, H, 2)
        colorscale="Viridis", zmin=0, colorbar=dict(title=measure_name.split()[0]),
        hovertemplate="layer %{customdata[0]}, head %{customdata[1]}<br>" + measure_name
                      + " %{z:.4f}<extra></extra>"))
    if selected is not None:
        layer, head = selected
        fig.add_shape(type="rect", x0=head - 0.5, x1=head + 0.5, y0=layers.index(layer) - 0.5,
                      y1=layers.index(layer) + 0.5, line=dict(color="cyan", width=3))
    fig.update_layout(title=f"Attention change per head: base vs {adapter} (mean {measure_name} over queries)",
                      xaxis_title="head", yaxis_title="layer", height=max(360, 22 * len(layers) + 120),
                      yaxis=dict(autorange="reversed"), margin=dict(t=50))
    return fig


def clicked_head(points: list[dict]) -> tuple[int, int] | None:
    """The (layer, head) of the first selected `divergence_heatmap` cell, from its customdata; None when no
    cell is selected. Plotly may hand customdata back as a list or as an index-keyed object."""
    data = next((p["customdata"] for p in points if p.get("customdata") is not None), None)
    if data is None:
        return None
    values = [data[k] for k in sorted(data, key=int)] if isinstance(data, dict) else list(data)
    return int(values[0]), int(values[1])


def head_maps(base: np.ndarray, tuned: np.ndarray, tokens: list[str], layer: int, head: int,
              adapter: str) -> go.Figure:
    """Base map, adapter map and their difference (adapter - base) for one head; rows are queries."""
    labels = [f"{i}:{t}" for i, t in enumerate(tokens)]
    diff = tuned - base
    bound = float(np.abs(diff).max()) or 1e-6
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.06,
                        subplot_titles=("base", adapter, f"difference ({adapter} - base)"))
    common = dict(x=labels, y=labels, hovertemplate="query %{y}<br>key %{x}<br>%{z:.4f}<extra></extra>")
    fig.add_trace(go.Heatmap(z=base, colorscale="Blues", zmin=0, zmax=1, showscale=False, **common), 1, 1)
    fig.add_trace(go.Heatmap(z=tuned, colorscale="Blues", zmin=0, zmax=1, showscale=False, **common), 1, 2)
    fig.add_trace(go.Heatmap(z=diff, colorscale="RdBu_r", zmid=0, zmin=-bound, zmax=bound,
                             colorbar=dict(title="Δ weight"), **common), 1, 3)
    fig.update_yaxes(autorange="reversed", showticklabels=len(tokens) <= 48)
    fig.update_xaxes(showticklabels=len(tokens) <= 48, tickangle=-60)
    fig.update_layout(title=f"Layer {layer}, head {head}: who attends to whom", height=560, margin=dict(t=80))
    return fig
