"""Prompt-lab figures: tokens coloured by probability, one decoding step opened up, the logit lens."""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.models.prompts import token_label
from workbench.prompt_lab.token_views import LogitLens, StepView, TokenProbabilities

LENS_SCALE = [[0.0, "#ffffff"], [0.5, "#a6cee3"], [1.0, "#4a90c8"]]


def token_probability_figure(view: TokenProbabilities, per_line: int = 12) -> go.Figure:
    """Generated tokens in reading order, wrapped into lines, coloured by their probability; hover: alternatives."""
    n = len(view.tokens)
    lines = max(1, -(-n // per_line))
    z = [[None] * per_line for _ in range(lines)]
    text = [[""] * per_line for _ in range(lines)]
    hover = [[""] * per_line for _ in range(lines)]
    for t in view.tokens:
        row, col = divmod(t.position, per_line)
        z[row][col] = t.prob
        text[row][col] = token_label(t.text)
        alternatives = "<br>".join(f"{html.escape(token_label(a.text))}: {a.prob:.3f}" for a in t.alternatives)
        hover[row][col] = (f"<b>{html.escape(token_label(t.text))}</b> p={t.prob:.3f} (rank {t.rank}, "
                           f"entropy {t.entropy:.2f} nats)<br>top alternatives:<br>{alternatives}")
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", textfont={"size": 14}, hovertext=hover,
                               hoverinfo="text", colorscale="RdYlGn", zmin=0, zmax=1, xgap=3, ygap=3,
                               colorbar={"title": "p(token)"}))
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=80 + 48 * lines, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title=f"{n} generated tokens, coloured by probability")
    return fig


def decoding_step_figure(step: StepView) -> go.Figure:
    """One bar chart per processing stage over the same tokens; the drawn token in a different colour."""
    labels = [f"{token_label(t)}" for t in step.token_texts]
    fig = make_subplots(rows=len(step.stages), cols=1, shared_xaxes=True, vertical_spacing=0.32 / len(step.stages),
                        subplot_titles=[f"{s.name} · {s.candidates:,} candidates" for s in step.stages])
    colours = ["#d62728" if i == step.drawn_id else "#1f77b4" for i in step.token_ids]
    for row, stage in enumerate(step.stages, start=1):
        fig.add_trace(go.Bar(x=list(range(len(labels))), y=stage.probs, marker_color=colours, showlegend=False,
                             hovertext=[f"{lab}: {p:.4f}" for lab, p in zip(labels, stage.probs)],
                             hoverinfo="text"), row=row, col=1)
        fig.update_yaxes(range=[0, 1], title_text="p", row=row, col=1)
    fig.update_xaxes(tickvals=list(range(len(labels))), ticktext=labels, row=len(step.stages), col=1)
    fig.update_layout(height=190 * len(step.stages) + 80, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      title=f"Step {step.step}: drew {token_label(step.drawn_text)!r} (red)"
                            + (" by argmax" if step.greedy else " by sampling"))
    return fig


def logit_lens_figure(lens: LogitLens) -> go.Figure:
    """Layers x positions: colour = probability of the top token read out there, label = that token."""
    fig = go.Figure(go.Heatmap(
        z=lens.top_probs, text=[[token_label(t) for t in row] for row in lens.top_texts], texttemplate="%{text}",
        # Dark text on a light-to-mid blue scale: readable on every cell (Viridis put white text on yellow)
        textfont={"size": 11, "color": "#111"}, colorscale=LENS_SCALE, zmin=0, zmax=1, colorbar={"title": "p(top)"},
        x=[f"{i}:{token_label(t)}" for i, t in enumerate(lens.tokens)], y=lens.layers,
        hovertemplate="layer %{y}<br>after %{x}<br>top: %{text} (%{z:.3f})<extra></extra>"))
    fig.update_layout(height=max(400, 22 * len(lens.layers) + 120), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title="Logit lens: top next token per layer (final norm + unembedding)",
                      xaxis_title="position: input token", yaxis_title="layer")
    return fig
