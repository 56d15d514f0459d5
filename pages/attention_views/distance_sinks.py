"""The Attention page's long-input summaries: how far each head looks (a histogram of |query - key| per head) and
the attention sinks, both from the all-layers scan (no full map kept)."""

from __future__ import annotations

import streamlit as st

import pages as ui
from pages.attention_views import PageInputs
from workbench.attention import figures as plots
from workbench.attention import sinks
from workbench.attention.distances import bin_labels, distance_edges


def draw(p: PageInputs) -> None:
    cap = p.capture((0,), scan=True)
    bins = bin_labels(distance_edges(cap.n_tokens))
    shares = cap.distances / cap.n_tokens                        # (L, H, bins): each head's row sums to 1
    heads = [f"H{h}" for h in range(cap.n_heads)]
    ui.chart(plots.distance_heatmap(shares[p.layer], bins, heads, f"Layer {p.layer}: attention by distance, "
                                    "per head"), key="attn_dist_fig")
    ui.chart(plots.distance_heatmap(shares.mean(1), bins, [f"L{l}" for l in range(cap.n_layers)],
                                    "Every layer: attention by distance (mean over heads)"), key="attn_dist_all_fig")
    st.caption("Share of a head's attention (all query rows) at each |query - key| distance, in log-spaced bins: "
               "local heads sit on the left, long-range ones on the right.")
    share, keys = sinks.strongest_keys(cap)
    ui.chart(plots.sink_heatmap(share, keys, cap.tokens, sinks.SINK_MIN_SHARE), key="attn_sink_fig")
    found = sinks.find_sinks(cap)
    st.caption(f"A key is a sink of a layer when, averaged over its heads, it takes at least "
               f"{sinks.SINK_MIN_SHARE:g} of the attention of every query (a uniform head gives each of the "
               f"{cap.n_tokens} keys {1 / cap.n_tokens:.3f}). {len(found)} sink(s) in "
               f"{found.layer.nunique()} of {cap.n_layers} layers.")
    st.dataframe(found.round(3), hide_index=True, width="stretch", key="attn_sinks_table")
