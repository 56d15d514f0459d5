"""Attention explorer: one head, all heads, token focus, head statistics, aggregates, the math of one row,
generation, bertviz, input attribution, contributions. Reads the shared widgets, then draws one view
(pages/attention_views/: each calls workbench.attention* and draws workbench.attention.figures)."""

import streamlit as st

import pages as ui
from pages.attention_views import PageInputs, copy_code, distance_sinks, maps
from pages.attention_views import adapter_diff as adapter_diff_view
from pages.attention_views import attribution as attribution_view
from pages.attention_views import contributions as contributions_view
from pages.attention_views import generated as generated_view
from workbench.attention import capture as core
from workbench.errors import WorkbenchError
from workbench.models.prompts import token_labels

ui.ensure_shell()  # first: a page reached in Streamlit's v1 mode reruns through app.py

VIEWS = {"One head": maps.one_head, "All heads": maps.all_heads, "Token focus": maps.token_focus,
         "Statistics": maps.statistics,
         "Distance & sinks": distance_sinks.draw, "Aggregates": maps.aggregates, "Row math": maps.row_math_view,
         "Generated": generated_view.draw, "bertviz": maps.bertviz, "Attribution": attribution_view.draw,
         "Contributions": contributions_view.draw, "Base vs adapter": adapter_diff_view.draw}

st.title("Attention")
loaded = ui.current_model()
info = loaded.info
left, right = st.columns([3, 1])
text = left.text_area("Text", "The cat sat on the mat. The cat was happy, so the cat purred.",
                      persist_state="session", key="attn_text")
chat = right.toggle("Chat turn (apply chat template)", persist_state="session", key="attn_chat",
                    disabled=not info.has_chat_template)
token_cap = min(info.context_length or 512, 8192)
max_tokens = right.number_input("Max tokens", 2, token_cap, min(2048, token_cap), persist_state="session",
                                key=ui.fit_kept("attn_max_tokens", 2, token_cap))
try:
    _, ids, original = core.encode_text(loaded, text, max_tokens=int(max_tokens), chat=chat)
except WorkbenchError as err:
    ui.show_error(err)
    st.stop()
tokens = token_labels(loaded.tokenizer, ids)
n = len(ids)
if original > n:
    st.warning(f"The text has {original} tokens; only the first {n} are shown (raise Max tokens, up to the "
               f"model's context of {info.context_length}).")
with st.expander(f"{n} tokens", expanded=n <= 64):
    st.markdown(" ".join(f"`{i}:{t}`" for i, t in enumerate(tokens[:400])) + (" …" if n > 400 else ""))

view = st.radio("View", list(VIEWS), horizontal=True, persist_state="session", key="attn_view")
c1, c2, c3, c4 = st.columns(4)
layer = c1.selectbox("Layer", range(info.layers), persist_state="session",
                     key=ui.fit_kept("attn_layer", options=range(info.layers)))
head = c2.selectbox("Head", range(info.heads), persist_state="session",
                    key=ui.fit_kept("attn_head", options=range(info.heads)),
                    help=f"{info.heads} query heads over {info.kv_heads} key/value heads"
                    if info.kv_heads != info.heads else None)
hide_first = c3.toggle("Hide first token", persist_state="session", key="attn_hide_first",
                       help="Decoders park most attention on the first token; hide it and renormalise rows.")
if "attn_range" in st.session_state and st.session_state.get("attn_range_of") != n:  # the text changed
    low, high = st.session_state["attn_range"]  # a full range stays full; a zoom is clamped to the new text
    st.session_state["attn_range"] = (0, n) if (low, high) == (0, st.session_state.get("attn_range_of")) \
        else (min(low, n - 1), min(max(high, 1), n))
st.session_state["attn_range_of"] = n
start, end = c4.slider("Token range (zoom)", 0, n, (0, n), persist_state="session",
                       key="attn_range") if n > 2 else (0, n)
rows_text = st.text_input("Query rows (e.g. 3, 10-20; empty = all)", persist_state="session",
                          key="attn_rows") if n > 64 else ""
value_weighted = st.toggle(
    "Value-weighted (one head, mean over heads)", persist_state="session", key="attn_vw",
    help="Kobayashi et al. (2020): scale each key by the norm of what it sends, ‖W_O W_V x_j‖, and renormalise "
         "rows. Raw weights overstate keys whose value vectors are small, such as the first-token sink.")
inputs = PageInputs(loaded=loaded, text=text, chat=chat, max_tokens=int(max_tokens), ids=list(ids), tokens=tokens,
                    layer=layer, head=head, hide_first=hide_first, start=start, end=end, rows_text=rows_text,
                    value_weighted=value_weighted)
try:
    VIEWS[view](inputs)
except WorkbenchError as err:
    ui.show_error(err)
copy_code(inputs, view)
