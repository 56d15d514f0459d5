"""Figures for the Evaluate page: scores per model with bootstrap intervals, and paired differences."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.evaluate.metrics import metric_of, score_label

COLOURS = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3"]


def scores_table(results: list) -> pd.DataFrame:
    """Long table (model, key, value, low, high) from ModelResults or a history frame."""
    rows = [{"model": r.label, "key": k, "value": v, "low": r.intervals[k][0], "high": r.intervals[k][1]}
            for r in results for k, v in r.scores.items()]
    return pd.DataFrame(rows, columns=["model", "key", "value", "low", "high"])


def score_bars(scores: pd.DataFrame) -> go.Figure:
    """One panel per score, one bar per model, with its bootstrap 95% interval as error bars."""
    keys = list(dict.fromkeys(scores["key"]))
    models = list(dict.fromkeys(scores["model"]))
    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=[score_label(k) for k in keys],
                        horizontal_spacing=0.04)
    for col, key in enumerate(keys, start=1):
        part = scores[scores["key"] == key].set_index("model").reindex(models).dropna(subset=["value"])
        fig.add_trace(go.Bar(
            x=part.index, y=part["value"], showlegend=False,
            marker_color=[COLOURS[models.index(m) % len(COLOURS)] for m in part.index],
            error_y=dict(type="data", symmetric=False, array=part["high"] - part["value"],
                         arrayminus=part["value"] - part["low"], thickness=1.5),
            hovertemplate="%{x}: %{y:.4g}<extra>" + key + "</extra>"), 1, col)
        if (metric := metric_of(key)) is not None and metric.log_axis:
            fig.update_yaxes(type="log", row=1, col=col)  # perplexities of adapters can differ by orders
    fig.update_layout(title="Scores with bootstrap 95% intervals", height=380, margin=dict(t=80, b=40))
    return fig


def difference_forest(comparisons: pd.DataFrame) -> go.Figure:
    """Each adapter minus the base per score, with its paired-bootstrap 95% interval; grey when it spans 0."""
    keys = list(dict.fromkeys(comparisons["key"]))
    fig = make_subplots(rows=1, cols=max(len(keys), 1), subplot_titles=[score_label(k) for k in keys],
                        horizontal_spacing=0.05)
    for col, key in enumerate(keys, start=1):
        part = comparisons[comparisons["key"] == key]
        fig.add_trace(go.Scatter(
            x=part["difference"], y=part["model"], mode="markers", showlegend=False,
            marker=dict(size=11, color=["#d62728" if c else "#999999" for c in part["clear"]]),
            error_x=dict(type="data", symmetric=False, array=part["high"] - part["difference"],
                         arrayminus=part["difference"] - part["low"]),
            hovertemplate="%{y} - base: %{x:+.4g}<extra>" + key + "</extra>"), 1, col)
        fig.add_vline(x=0, line_dash="dot", line_color="grey", row=1, col=col)
        fig.update_yaxes(showticklabels=col == 1, row=1, col=col)
    fig.update_layout(title="Difference from the base, paired bootstrap 95% interval "
                            "(red: clear of zero; grey: within noise)", height=300, margin=dict(t=80, b=40))
    return fig
