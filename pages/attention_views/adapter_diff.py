"""The Base vs adapter view: the contribution graph and an attribution with the base model and with one adapter,
and their difference (what the fine-tune changed in how this output is made)."""

from __future__ import annotations

from functools import partial

import streamlit as st

import pages as ui
from pages.attention_views import PageInputs, kept_result, open_head_from
from pages.attention_views.attribution import settings
from workbench.attention import adapter_diff as diff_core
from workbench.attention import attribution as attr
from workbench.attention import contributions as contrib
from workbench.attention import figures as plots

MEASURES = {"delta": "importance change", "change": "relative change of the output"}


def draw(p: PageInputs) -> None:
    if not p.causal:
        st.info(f"{p.loaded.info.name} is an encoder: LoRA adapters here are for causal models. Pick SmolLM2.")
        return
    adapter = ui.adapter_picker(p.loaded, "attn_diff_adapter", label="Compare with adapter",
                                help_text="A LoRA adapter registered for this model (Fine-tune page); the base model "
                                          "and the adapter read the same text.")
    if adapter is None:
        st.info("Pick an adapter to compare with the base model (register one on the Fine-tune page).")
        return
    request = (p.loaded.spec, p.text, p.chat, p.max_tokens, adapter.name)
    kept = st.session_state.get("attn_diff_traces")
    if kept is None or kept[0] != request:
        with st.spinner(f"Two forward passes: the base model, then {adapter.name}"):
            base = contrib.trace_contributions(p.loaded, p.text, chat=p.chat, max_tokens=p.max_tokens)
            tuned = contrib.trace_contributions(p.loaded, p.text, adapter=adapter, chat=p.chat,
                                                max_tokens=p.max_tokens)
        kept = st.session_state["attn_diff_traces"] = (request, base, tuned)
    contributions(p, kept[1], kept[2])
    st.subheader(f"Attribution, base vs {adapter.name}")
    attribution(p, adapter)


def contributions(p: PageInputs, base: contrib.ContributionTrace, tuned: contrib.ContributionTrace) -> None:
    """Each head's and MLP's change at one token (a click opens the head), the most changed, and either graph."""
    cols = st.columns(3)
    token = cols[0].number_input("Token", 0, p.n - 1, p.n - 1, persist_state="session",
                                 key=ui.fit_kept("attn_diff_token", 0, p.n - 1))
    measure = cols[1].radio("Measure", list(MEASURES), format_func=MEASURES.get, persist_state="session",
                            key="attn_diff_measure")
    threshold = cols[2].slider("Graph threshold", 0.0, 0.5, contrib.DEFAULT_THRESHOLD, 0.01, persist_state="session",
                               key="attn_diff_threshold")
    d = diff_core.diff_traces(base, tuned, int(token))
    where = f"token {d.token} {d.tokens[d.token]!r}"
    heat, side = st.columns([3, 2])
    ui.chart(plots.contribution_delta_heatmap(d.delta_matrix(measure), d.adapter,
                                              f"{MEASURES[measure].capitalize()} at {where}: {d.adapter} - base",
                                              value=MEASURES[measure]),
             key="attn_diff_heat", on_select=partial(open_head_from, "attn_diff_heat", "Base vs adapter"),
             selection_mode="points", where=heat)
    side.markdown("**Most changed components**")
    side.dataframe(d.ranking(10).round(4), hide_index=True)
    st.caption(f"Importance: each component's share of its block's output at {where} (Ferrando & Voita); red: the "
               f"adapter leans on it more. Click a head to open its map.")
    of = st.radio("Graph of", ["base", d.adapter], horizontal=True, persist_state="session",
                  key=ui.fit_kept("attn_diff_graph_of", options=["base", d.adapter]))
    graph = d.graphs(float(threshold))[0 if of == "base" else 1]
    ui.chart(plots.contribution_graph(graph.nodes_frame(), graph.to_frame(), graph.tokens, graph.n_layers,
                                      title=f"Contributions to {where} ({of})"), key="attn_diff_graph")


def attribution(p: PageInputs, adapter) -> None:
    """One method's attribution of the same output with both, side by side, and the difference."""
    target, contrast, method, steps = settings(p, "attn_diff")
    request = (p.loaded.spec, p.text, p.chat, p.max_tokens, target, contrast, method, steps, adapter.name)
    if st.button("Attribute with both", type="primary", key="attn_diff_attr_run"):
        with st.spinner(f"{attr.METHODS[method].capitalize()} with the base model, then {adapter.name}"):
            st.session_state["attn_diff_attribution"] = (request, diff_core.attribution_diff(
                p.loaded, p.text, adapter, target=target, contrast=contrast, method=method, steps=steps, chat=p.chat,
                max_tokens=p.max_tokens))
    a = kept_result("attn_diff_attribution", request, button="Attribute with both",
                    idle="Attributes the same output (the base model's token when no target is given) with both.")
    if a is None:
        return
    ui.chart(plots.attribution_delta_bars(a.base.tokens, a.base.scores, a.tuned.scores, a.tuned.adapter,
                                          title=f"{attr.METHODS[a.base.method]} of the {a.base.output}",
                                          visible=a.base.visible), key="attn_diff_attr_fig")
    st.caption(f"f = {a.base.value:.4f} with the base model, {a.tuned.value:.4f} with {a.tuned.adapter}.")
