"""The map views of the Attention page: one head, all heads, token focus, statistics, aggregates, row math, bertviz."""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

import pages as ui
from pages.attention_views import OVERVIEW, PageInputs, open_head_from
from workbench.attention import bertviz as bertviz_view
from workbench.attention import capture as core
from workbench.attention import figures as plots
from workbench.attention import views
from workbench.attention.row_math import row_math

FULL_ALL_LAYERS = 256  # up to this many tokens, rollout uses every layer's full maps
TOP_KEYS = 48          # token focus on a long input: the strongest keys (and queries) only, the rest left out


def one_head(p: PageInputs) -> None:
    cap = p.capture((p.layer,))
    mv = views.map_view(p.shown_head(cap, p.layer, p.head), p.tokens, causal=p.causal, start=p.start, end=p.end,
                        rows=views.query_rows(p.rows_text, p.n), hide_first=p.hide_first)
    ui.chart(plots.head_heatmap(mv.matrix, mv.query_labels, mv.key_labels, masked=mv.masked,
                                title=f"Layer {p.layer}, head {p.head}{p.weighting}"), key="attn_head_fig")
    st.caption(f"Captured in {cap.seconds:.1f} s. " + mv.note)


def all_heads(p: PageInputs) -> None:
    cap = p.capture((0,), scan=True)
    shown = p.capture((0,), span=(p.start, p.end)) if p.zoomed else cap   # a zoom: that range recomputed alone
    info, edges = p.loaded.info, shown.overview_edges
    ui.chart(plots.thumbnail_grid(shown.overview, cap.statistics, causal=p.causal, selected=(p.layer, p.head)),
             key="attn_grid", on_select=partial(open_head_from, "attn_grid", "All heads"), selection_mode="points",
             width="content")
    span = f"tokens {p.start}-{p.end - 1} of {p.n} (zoom), recomputed for that range: " if p.zoomed else ""
    st.caption(f"{info.layers} layers x {info.heads} heads, {span}each tile scaled to its own maximum"
               + (f", {len(edges) - 1} blocks of ~{(edges[-1] - edges[0]) // (len(edges) - 1)} tokens a side"
                  if edges[-1] - edges[0] > OVERVIEW else "")
               + ". Click a tile (or pick Layer and Head above) to open it.")


def token_focus(p: PageInputs) -> None:
    token = int(st.number_input("Token", 0, p.n - 1, min(1, p.n - 1), persist_state="session",
                                key=ui.fit_kept("attn_token", 0, p.n - 1)))
    cap = p.capture((0,), focus=token)             # the token's row and column in every layer, no full map
    out = cap.focus_rows[p.layer, :, 0, :].astype(np.float32)                   # (H, T) where it looks
    into = cap.focus_columns[p.layer, :, :, 0].astype(np.float32)              # (H, T) what looks at it
    keys = np.arange(p.start, p.end)
    ui.chart(plots.token_lines(out[:, keys], p.tokens, keys, token, max_rows=TOP_KEYS), key="attn_lines_out")
    ui.chart(plots.token_lines(into[:, keys], p.tokens, keys, token, direction="is attended by", max_rows=TOP_KEYS),
             key="attn_lines_in")
    rows, labels = views.focus_across_layers(cap, OVERVIEW * 2)
    ui.chart(plots.layers_by_key(rows, labels, f"Token {token} across layers (mean over heads)"), key="attn_layers")
    st.caption("From the token's own row and column in every layer (computed in query blocks, no full map)"
               + (f"; past {TOP_KEYS} tokens, only the strongest (largest weight over heads) are drawn" if
                  len(keys) > TOP_KEYS else "") + ".")


def statistics(p: PageInputs) -> None:
    stats = p.capture((0,), scan=True).statistics
    value = st.selectbox("Colour by", list(core.STATISTIC_LEGEND), persist_state="session", key="attn_stat")
    ui.chart(plots.statistics_heatmap(stats, value), key="attn_stats_fig")
    st.dataframe(stats.round(3), hide_index=True, width="stretch", key="attn_stats_table")
    st.markdown("\n".join(f"- **{k}**: {v}" for k, v in core.STATISTIC_LEGEND.items()))
    st.markdown("\n".join(f"- **{k}** ({plots.KIND_MARK[k] or 'no mark'}): {v}" for k, v in core.HEAD_KINDS.items()))
    st.bar_chart(stats.label.value_counts())


def _rollout(p: PageInputs) -> tuple[views.MapView, str]:
    """Rollout up to the picked layer: every layer's full maps on short texts, the token-block overview beyond."""
    if p.n <= FULL_ALL_LAYERS:
        full = p.capture(None)
        roll = views.map_view(core.rollout(full.pattern[: p.layer + 1]), p.tokens, causal=p.causal, start=p.start,
                              end=p.end, hide_first=p.hide_first)
        return roll, f"Attention rollout, layers 0-{p.layer}"
    scan = p.capture((0,), scan=True)
    edges = scan.overview_edges
    block_tokens = [f"{a}-{b - 1} {p.tokens[a]}…" for a, b in zip(edges[:-1], edges[1:])]
    roll = views.map_view(core.rollout(scan.overview[: p.layer + 1]), block_tokens, causal=p.causal)
    return roll, f"Attention rollout over {len(block_tokens)} token blocks, layers 0-{p.layer} (approximate)"


def aggregates(p: PageInputs) -> None:
    cap = p.capture((p.layer,))
    heads_mean = np.mean([p.shown_head(cap, p.layer, h) for h in range(p.loaded.info.heads)], 0) \
        if p.value_weighted else core.mean_over_heads(cap, p.layer)
    mean = views.map_view(heads_mean, p.tokens, causal=p.causal, start=p.start, end=p.end, hide_first=p.hide_first)
    ui.chart(plots.head_heatmap(mean.matrix, mean.query_labels, mean.key_labels, masked=mean.masked,
                                title=f"Layer {p.layer}: mean over heads{p.weighting}"), key="attn_mean_fig")
    roll, title = _rollout(p)
    ui.chart(plots.head_heatmap(roll.matrix, roll.query_labels, roll.key_labels, masked=roll.masked, title=title),
             key="attn_rollout_fig")


def row_math_view(p: PageInputs) -> None:
    query = st.number_input("Query token", 0, p.n - 1, p.n - 1, persist_state="session",
                            key=ui.fit_kept("attn_query", 0, p.n - 1))
    cap = p.capture((p.layer,))
    with ui.model_turn(p.loaded):
        m = row_math(p.loaded, cap, p.layer, p.head, int(query))
    st.latex(r"\mathrm{weights} = \mathrm{softmax}\Big(\frac{q\,K^\top}{\sqrt{d_k}} + \mathrm{mask}\Big),"
             rf"\quad d_k = {m.head_dim},\ \tfrac{{1}}{{\sqrt{{d_k}}}} = {m.scale:.4f}")
    st.caption(f"Layer {p.layer}, query head {p.head} (key/value head {m.kv_head}), query token {query} "
               f"`{p.tokens[int(query)]}`; q and k from the layer's own projections"
               + (", rotary position embedding applied." if m.rotary else "."))
    keys = np.arange(p.start, min(p.end, p.n))
    labels = plots.position_labels(p.tokens, keys)
    ui.chart(plots.row_math_figure(m.scores[keys], m.weights[keys], m.visible[keys], labels), key="attn_math_fig")
    st.dataframe(m.table(keys, labels, cap.head(p.layer, p.head)[int(query)]), hide_index=True, width="stretch")


def bertviz(p: PageInputs) -> None:
    info = p.loaded.info
    picked = st.multiselect("Layers for bertviz", range(info.layers), default=[p.layer], persist_state="session",
                            key="attn_bv_layers")
    kind = st.radio("bertviz view", ["head", "model"], horizontal=True, persist_state="session", key="attn_bv_kind")
    if not picked:
        return
    bertviz_view.check_size(len(picked), info.heads, p.n)
    html = bertviz_view.bertviz_html(p.capture(tuple(sorted(picked))), kind)
    st.caption(f"bertviz {kind} view, {len(picked)} layer(s), {ui.human_bytes(len(html))} of HTML; "
               "scripts served by the app (no CDN).")
    st.download_button("Download this bertviz view (HTML)", html, f"bertviz-{kind}.html", "text/html",
                       key="attn_bv_download", icon=":material/download:")
    # The head view lists every token down the frame (~21 px each): tall enough for all of them, up to a screen
    tall = min(1400, 160 + 21 * p.n) if kind == "head" else 420 + 180 * len(picked)
    components.html(html, height=tall, scrolling=True)
