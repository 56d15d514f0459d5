"""The Attribution view: which input tokens drove one output, and the faithfulness panel."""

from __future__ import annotations

import streamlit as st

import pages as ui
from pages.attention_views import PageInputs, kept_result
from workbench.attention import attribution as attr
from workbench.attention import figures as plots


def settings(p: PageInputs, prefix: str) -> tuple[str, str, str, int]:
    """Target, contrast, method and IG steps, in one row of widgets keyed `{prefix}_target` and so on."""
    cols = st.columns(4)
    what = "token (empty: the greedy next token)" if p.causal else "text (empty: the embedding's norm)"
    target = cols[0].text_input(f"Target {what}", persist_state="session", key=f"{prefix}_target",
                                help="A leading space is part of a token (␣ works too); id:N for a token id.")
    contrast = cols[1].text_input("Contrast (optional)", persist_state="session", key=f"{prefix}_contrast",
                                  help="Attribute target minus contrast, e.g. ' she' vs ' he'.")
    method = cols[2].selectbox("Method", list(attr.METHODS), 1, format_func=attr.METHODS.get, persist_state="session",
                               key=f"{prefix}_method")
    steps = cols[3].number_input("IG steps", 2, attr.MAX_STEPS, 32, persist_state="session", key=f"{prefix}_steps")
    return target, contrast, method, int(steps)


def draw(p: PageInputs) -> None:
    """Which input tokens drove one output: the picked method per token, and the faithfulness panel (rollout and
    every method side by side, rank correlations, a warning when they disagree)."""
    loaded = p.loaded
    target, contrast, method, steps = settings(p, "attn_attr")
    adapter = ui.adapter_picker(loaded, "attn_attr_adapter") if p.causal else None
    request = (loaded.spec, p.text, p.chat, p.max_tokens, target, contrast, steps, getattr(adapter, "name", None))
    if st.button("Attribute", type="primary", key="attn_attr_run"):
        bar = st.progress(0.0, text="Attribution")
        try:
            st.session_state["attn_attribution"] = (request, attr.faithfulness(
                loaded, p.text, target=target, contrast=contrast, steps=steps, chat=p.chat, max_tokens=p.max_tokens,
                adapter=adapter, progress=lambda f, m: bar.progress(f, text=m)))
        finally:
            bar.empty()
    panel = kept_result("attn_attribution", request, button="Attribute", idle="Runs rollout, gradient x input, "
                        "integrated gradients and occlusion (Captum) for one output.")
    if panel is None:
        return
    shown = panel.attributions[method]
    gap = f"; integrated gradients miss completeness by {shown.completeness_gap:.1%}" if method == "ig" else ""
    ui.chart(plots.attribution_bars(shown.tokens, shown.scores, visible=shown.visible,
                                    title=f"{attr.METHODS[method]} of the {shown.output}"), key="attn_attr_fig")
    st.caption(f"f = {shown.value:.4f}, baseline {shown.baseline_value:.4f}{gap}. Kept in the baseline (no "
               "attribution): special tokens and a causal model's first token.")
    st.subheader("Faithfulness")
    (st.warning if panel.disagree else st.info)(panel.message)
    ui.chart(plots.attribution_strips(shown.tokens, panel.scores, attr.PANEL_METHODS), key="attn_attr_strips")
    ui.chart(plots.correlation_matrix(panel.correlations, attr.PANEL_METHODS, threshold=panel.threshold),
             key="attn_attr_corr")
