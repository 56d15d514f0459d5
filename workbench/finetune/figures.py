"""Fine-tuning figures: training curves (loss, validation loss, learning rate) and the token-length histogram."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots


def training_curves(metrics: list[dict], title: str = "") -> go.Figure:
    """Train loss and validation loss by step (left axis), learning rate (right axis)."""
    train = [m for m in metrics if m.get("kind") == "train"]
    evals = [m for m in metrics if m.get("kind") == "eval" and m.get("val_loss") is not None]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=[m["step"] for m in train], y=[m["loss"] for m in train], name="train loss",
                             mode="lines", line={"color": "#1f77b4"}), secondary_y=False)
    fig.add_trace(go.Scatter(x=[m["step"] for m in evals], y=[m["val_loss"] for m in evals], name="validation loss",
                             mode="lines+markers", line={"color": "#d62728"}), secondary_y=False)
    fig.add_trace(go.Scatter(x=[m["step"] for m in train], y=[m["lr"] for m in train], name="learning rate",
                             mode="lines", line={"color": "#7f7f7f", "dash": "dot"}), secondary_y=True)
    fig.update_layout(title={"text": title, "y": 0.98} if title else None, height=380,
                      margin={"l": 10, "r": 10, "t": 70 if title else 30, "b": 10},
                      legend={"orientation": "h", "y": 1.0, "yanchor": "bottom"}, hovermode="x unified")
    last = max((m["step"] for m in train + evals), default=0)
    fig.update_xaxes(title_text="step", dtick=1 if last <= 10 else None)  # steps are whole: no 1.2, 1.4 ticks
    fig.update_yaxes(title_text="loss", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title_text="learning rate", secondary_y=True, showgrid=False, rangemode="tozero",
                     tickformat=".1e")  # 5.4e-04, not 0.000537
    return fig


def token_length_histogram(lengths: list[int], max_length: int | None = None) -> go.Figure:
    """Tokens per row as trained; a dashed line marks the max length."""
    fig = go.Figure(go.Histogram(x=lengths, nbinsx=min(50, max(5, len(set(lengths)))), marker_color="#1f77b4"))
    if max_length:
        fig.add_vline(x=max_length, line_dash="dash", line_color="#d62728",
                      annotation_text=f"max length {max_length}")
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="tokens per row",
                      yaxis_title="rows", bargap=0.05)
    return fig
