"""The Generated view: generate from the text, then walk through the new tokens."""

from __future__ import annotations

import numpy as np
import streamlit as st

import pages as ui
from pages.attention_views import PageInputs
from workbench.attention import figures as plots
from workbench.attention import generated as gen
from workbench.models.prompts import token_labels


def draw(p: PageInputs) -> None:
    """Generate from the text, then walk through the new tokens: what each one's query looked at (every head of
    the picked layer, and every layer's mean), its top alternatives and the entropy."""
    loaded = p.loaded
    if not p.causal:
        st.info(f"{loaded.info.name} is an encoder: it does not generate. Pick SmolLM2 (or another causal model).")
        return
    cols = st.columns([1, 1, 2])
    new_tokens = cols[0].number_input("New tokens", 1, gen.MAX_NEW_TOKENS, 24, persist_state="session",
                                      key="attn_gen_n")
    request = (loaded.spec, loaded.peft is not None, p.text, p.chat, int(new_tokens))
    if cols[1].button("Generate and inspect", type="primary", key="attn_gen_run"):
        with st.spinner(f"Generating {int(new_tokens)} tokens with eager attention"):
            with ui.model_turn(loaded):
                st.session_state["attn_generated"] = (request, gen.generate_and_inspect(loaded, p.text, int(new_tokens),
                                                                                    chat=p.chat))
    kept = st.session_state.get("attn_generated")
    if kept is None:
        st.caption("Generates greedily from the text above (the prompt), keeping for every new token the attention "
                   "row that chose it, read from the KV cache of each step.")
        return
    made_with, g = kept
    if made_with != request:
        st.warning("The text, chat setting, model or token count changed since this generation: press "
                   "Generate and inspect to redo it.", icon=":material/history:")
    if g.steps == 0:
        st.info("The model stopped at once: nothing was generated.")
        return
    step = cols[2].slider("Step", 0, g.steps - 1, 0, persist_state="session",
                          key=ui.fit_kept("attn_gen_step", 0, g.steps - 1)) if g.steps > 1 else 0
    st.markdown(f"Generated ({g.steps} tokens, {g.seconds:.1f} s): {gen.highlighted_generation(g, step)}")
    _step_charts(p, g, step)


def _step_charts(p: PageInputs, g: gen.GeneratedAttention, step: int) -> None:
    """One step: every head of the picked layer, every layer's mean, the top alternatives and the entropy."""
    chosen = g.prompt_len + step
    labels = plots.position_labels(g.tokens, np.arange(chosen))
    ui.chart(plots.head_heatmap(g.rows[step][p.layer].astype(np.float32), [f"H{h}" for h in range(p.loaded.info.heads)],
                                labels, title=f"Step {step}: token {chosen} `{g.tokens[chosen]}`, layer "
                                              f"{p.layer}, every head (query: position {chosen - 1})"),
             key="attn_gen_heads")
    ui.chart(plots.layers_by_key(g.rows[step].astype(np.float32).mean(1), labels,
                                 f"Step {step}: every layer, mean over heads"), key="attn_gen_layers")
    alternatives = token_labels(p.loaded.tokenizer, [int(i) for i in g.top_ids[step]])
    if len(set(alternatives)) < len(alternatives):  # a category axis merges equal labels
        alternatives = [f"{a} ({int(i)})" for a, i in zip(alternatives, g.top_ids[step])]
    ui.chart(plots.generation_step(alternatives, g.top_probs[step], g.entropy, step, g.tokens[g.prompt_len:]),
             key="attn_gen_step_fig")
