"""Figures for the bias dashboards: pure functions from probe tables to Plotly figures."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go

BASE_COLOUR, ADAPTER_COLOUR = "#4C78A8", "#F58518"


def _wrap(text: str, width: int = 70) -> str:
    return "<br>".join(textwrap.wrap(str(text), width)) or " "


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=50, b=10), template="plotly_white")
    return fig


def pronoun_scatter(table: pd.DataFrame, summary: dict) -> go.Figure:
    """Model female share vs BLS share of women per occupation, with the fitted line and parity diagonal."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 100], y=[0, 100], mode="lines", name="model = BLS",
                             line=dict(color="#aaa", dash="dot")))
    xs = np.array([0.0, 100.0])
    fig.add_trace(go.Scatter(x=xs, y=summary["slope"] * xs + summary["intercept"], mode="lines",
                             name=f"fit: y = {summary['slope']:.2f}x + {summary['intercept']:.1f}",
                             line=dict(color=ADAPTER_COLOUR)))
    fig.add_trace(go.Scatter(
        x=table["bls_pct_female"], y=table["model_pct_female"], mode="markers+text", text=table["occupation"],
        textposition="top center", textfont=dict(size=9), marker=dict(color=BASE_COLOUR, size=8),
        name="occupation", customdata=table[["he", "she", "they", "model_pct_they"]],
        hovertemplate="<b>%{text}</b><br>BLS women: %{x:.1f}%<br>model she/(he+she): %{y:.1f}%<br>"
                      "P sums he %{customdata[0]:.3f}, she %{customdata[1]:.3f}, they %{customdata[2]:.3f}"
                      "<br>they share: %{customdata[3]:.1f}%<extra></extra>"))
    fig.update_xaxes(title="BLS 2015 share of women in the occupation (%)", range=[-2, 102])
    fig.update_yaxes(title="model: P(she) / (P(he) + P(she)) (%)", range=[-2, 102])
    return _layout(fig, f"Pronoun-occupation association: r = {summary['pearson_r']:.2f} "
                        f"(95% CI {summary['r_ci_low']:.2f} to {summary['r_ci_high']:.2f})", 520)


def pronoun_skew_bars(table: pd.DataFrame) -> go.Figure:
    """Occupations ranked by skew: model female share minus the BLS share (points)."""
    ranked = table.sort_values("skew")
    fig = go.Figure(go.Bar(
        x=ranked["skew"], y=ranked["occupation"], orientation="h",
        marker_color=np.where(ranked["skew"] < 0, BASE_COLOUR, ADAPTER_COLOUR),
        customdata=ranked[["bls_pct_female", "model_pct_female"]],
        hovertemplate="<b>%{y}</b><br>skew %{x:+.1f} points<br>BLS %{customdata[0]:.1f}%, "
                      "model %{customdata[1]:.1f}%<extra></extra>"))
    fig.update_xaxes(title="model female share minus BLS share (points; < 0: more 'he' than the workforce)")
    fig.update_yaxes(tickfont=dict(size=9))
    return _layout(fig, "Occupations ranked by skew", max(420, 14 * len(ranked)))


def crows_share_chart(by_type: pd.DataFrame) -> go.Figure:
    """Share of pairs where the stereotyping sentence is preferred, per group, with 95% CIs and the 50% line."""
    rows = by_type.iloc[::-1]
    fig = go.Figure(go.Scatter(
        x=rows["share"], y=[f"{g} (n={n})" for g, n in zip(rows["bias_type"], rows["pairs"])], mode="markers",
        marker=dict(size=10, color=[ADAPTER_COLOUR if g == "all" else BASE_COLOUR for g in rows["bias_type"]]),
        error_x=dict(type="data", symmetric=False, array=rows["ci_high"] - rows["share"],
                     arrayminus=rows["share"] - rows["ci_low"]),
        customdata=rows[["stereo_preferred", "pairs", "ci_low", "ci_high"]],
        hovertemplate="%{y}: %{x:.1%} (%{customdata[0]} of %{customdata[1]})<br>95% CI "
                      "%{customdata[2]:.1%} to %{customdata[3]:.1%}<extra></extra>"))
    fig.add_vline(x=0.5, line_dash="dash", line_color="#888", annotation_text="50%: no preference")
    fig.update_xaxes(title="pairs where the more stereotyping sentence scores higher", range=[-0.02, 1.04],
                     tickformat=".0%")
    return _layout(fig, "CrowS-Pairs: preference for the stereotyping sentence", 140 + 32 * len(rows))


def bold_distributions(continuations: pd.DataFrame, by_group: pd.DataFrame) -> go.Figure:
    """VADER sentiment of sampled continuations per group, every continuation a point to hover."""
    fig = go.Figure()
    for group in by_group["group"]:
        rows = continuations[continuations["group"] == group]
        hover = [f"<b>{_wrap(p)}</b><br>→ {_wrap(c)}" for p, c in zip(rows["prompt"], rows["continuation"])]
        fig.add_trace(go.Box(x=rows["compound"], name=str(group), boxpoints="all", jitter=0.5, pointpos=0,
                             boxmean=True, text=hover, orientation="h", marker=dict(size=5),
                             hovertemplate="%{text}<br>sentiment %{x:+.2f}<extra></extra>"))
    fig.update_xaxes(title="VADER compound sentiment of the continuation (-1 negative, +1 positive)",
                     range=[-1.05, 1.05])
    fig.update_layout(showlegend=False)
    return _layout(fig, "Continuation sentiment by group", 160 + 45 * len(by_group))


def before_after_groups(groups: pd.DataFrame, metric: str) -> go.Figure:
    """Base vs adapter per group, side by side, with the change in the hover."""
    fig = go.Figure()
    for column, colour, name in (("base", BASE_COLOUR, "base model"), ("adapter", ADAPTER_COLOUR, "adapter")):
        fig.add_trace(go.Bar(y=groups["group"], x=groups[column], name=name, orientation="h", marker_color=colour,
                             customdata=groups["change"],
                             hovertemplate="%{y}: %{x:.3f} (change %{customdata:+.3f})<extra>" + name + "</extra>"))
    fig.update_xaxes(title=metric)
    fig.update_yaxes(tickfont=dict(size=11))
    _layout(fig, f"Before/after per group: {metric}", 190 + 28 * len(groups))
    # The legend sits between the title and the plot (its bottom on the plot's top edge), never over a bar.
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0),
                      margin=dict(t=80))
    return fig
