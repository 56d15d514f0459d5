"""The Contributions view: which heads and MLPs carried information to one token (Ferrando & Voita 2024)."""

from __future__ import annotations

from functools import partial

import streamlit as st

import pages as ui
from pages.attention_views import PageInputs, open_head_from
from workbench.attention import contributions as contrib
from workbench.attention import figures as plots


def draw(p: PageInputs) -> None:
    """One traced pass, then the graph re-walked for any token and threshold; a click on a head edge opens that
    head."""
    loaded = p.loaded
    cols = st.columns(3)
    token = cols[0].number_input("Token the graph starts from", 0, p.n - 1, p.n - 1, persist_state="session",
                                 key=ui.fit_kept("attn_ctb_token", 0, p.n - 1))
    threshold = cols[1].slider("Threshold (share of a block's output)", 0.0, 0.5, contrib.DEFAULT_THRESHOLD, 0.01,
                               persist_state="session", key="attn_ctb_threshold")
    adapter = ui.adapter_picker(loaded, "attn_ctb_adapter") if p.causal else None
    request = (loaded.spec, p.text, p.chat, p.max_tokens, getattr(adapter, "name", None))
    kept = st.session_state.get("attn_contrib")
    if kept is None or kept[0] != request:
        with st.spinner("One forward pass with every head's and MLP's contribution"):
            kept = (request, contrib.trace_contributions(loaded, p.text, adapter=adapter, chat=p.chat,
                                                         max_tokens=p.max_tokens))
        st.session_state["attn_contrib"] = kept
    trace = kept[1]
    graph = contrib.contribution_graph(trace, int(token), float(threshold))
    where = f"token {graph.token} {graph.tokens[graph.token]!r}" + (f" with {graph.adapter}" if graph.adapter else "")
    ui.chart(plots.contribution_graph(graph.nodes_frame(), graph.to_frame(), graph.tokens, graph.n_layers,
                                      title=f"Contributions to {where}"),
             key="attn_ctb_graph", on_select=partial(open_head_from, "attn_ctb_graph", "Contributions"),
             selection_mode="points")
    st.caption(f"{len(graph.edges)} edges above {graph.threshold:g} from one pass in {trace.seconds:.1f} s. Click a "
               "head edge to open that head's map.")
    ui.chart(plots.importance_heatmap(contrib.component_importance(trace, graph.token),
                                      f"Component importance at {where}"), key="attn_ctb_importance")
    vocabulary(p, trace, graph.token, where)


def vocabulary(p: PageInputs, trace: contrib.ContributionTrace, token: int, where: str) -> None:
    """A block's vocabulary projection: the tokens it promotes and suppresses at `token`."""
    c = st.columns(2)
    v_layer = c[0].selectbox("Vocabulary projection: layer", range(trace.n_layers), trace.n_layers - 1,
                             persist_state="session", key=ui.fit_kept("attn_ctb_vlayer", options=range(trace.n_layers)))
    parts = ["residual", "attention", "mlp", *(f"head {h}" for h in range(trace.n_heads))]
    part = c[1].selectbox("Component", parts, 2, persist_state="session",
                          key=ui.fit_kept("attn_ctb_part", options=parts))
    vp = contrib.vocabulary_projection(p.loaded, trace, int(v_layer), part, token)
    ui.chart(plots.vocabulary_bars(vp.promoted, vp.promoted_logits, vp.suppressed, vp.suppressed_logits,
                                   f"Layer {v_layer} {part} at {where}: tokens it promotes and suppresses"),
             key="attn_ctb_vocab")
