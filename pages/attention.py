"""Attention explorer: one head, all heads, token focus, head statistics, aggregates, the math of one row,
bertviz, input attribution. Reads widgets, calls workbench.attention*, draws workbench.attention.figures."""

import re

import numpy as np
import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

import pages as ui
from workbench import snippets
from workbench.attention import attribution as attr
from workbench.attention import bertviz as bertviz_view
from workbench.attention import capture as core
from workbench.attention import contributions as contrib
from workbench.attention import figures as plots
from workbench.attention import views as views
from workbench.attention.cache import CaptureCache
from workbench.attention.estimate import CaptureRequest, available_memory, estimate
from workbench.attention.generated import MAX_NEW_TOKENS, generate_and_inspect
from workbench.attention.row_math import row_math
from workbench.attention.value_weighted import value_norms, weighted
from workbench.errors import WorkbenchError
from workbench.models import adapters
from workbench.models.prompts import token_labels

ui.ensure_shell()  # first: a page reached in Streamlit's v1 mode reruns through app.py

VIEWS = ["One head", "All heads", "Token focus", "Statistics", "Aggregates", "Row math", "Generated", "bertviz",
         "Attribution", "Contributions"]
OVERVIEW = 32          # thumbnail side in blocks
FULL_ALL_LAYERS = 256  # up to this many tokens, rollout uses every layer's full maps
MAX_CAPTURES = 6       # captures kept per process (a 2,048-token layer is 75 MB)


@st.cache_resource(show_spinner=False)
def _captures() -> CaptureCache:
    """One per process, keyed by (model, text, layers): switching heads never reruns the model
    (st.cache_resource itself cannot draw the progress bar of the pass it caches)."""
    return CaptureCache(MAX_CAPTURES)


def capture(layers: tuple | None, scan: bool = False) -> core.AttentionCapture:
    key = (loaded.spec, loaded.peft is not None, text, chat, int(max_tokens), layers, scan)

    def run() -> core.AttentionCapture:
        bar = st.empty()
        plan = estimate(info, n, CaptureRequest(0 if scan else len(layers or range(info.layers)), scan,
                                                OVERVIEW if scan else 0), available=available_memory()).plan
        try:
            with ui.model_turn(loaded):
                return core.capture_attention(
                    loaded, text, [] if scan else list(layers) if layers is not None else None, chat=chat,
                    max_tokens=int(max_tokens), overview_size=OVERVIEW if scan else None, all_statistics=scan,
                    progress=lambda f, m: bar.progress(min(f, 1.0), text=f"Capturing attention: {m}. {plan}"))
        finally:
            bar.empty()

    return _captures().get_or_capture(key, run)


def norms_of(layer: int) -> np.ndarray:
    """‖f(x_j)‖ (H, T) of one layer for the value-weighted view, kept per text in the session."""
    key = ("attn_norms", loaded.spec, loaded.peft is not None, tuple(int(i) for i in ids), layer)
    kept = st.session_state.setdefault("attn_norms", {})
    if key not in kept:
        with st.spinner(f"Value vectors of layer {layer}"):
            kept.clear()  # one text at a time
            with ui.model_turn(loaded):
                kept[key] = value_norms(loaded, np.asarray(ids), layer)
    return kept[key]


def shown_head(cap: core.AttentionCapture, layer: int, head: int) -> np.ndarray:
    """The head's map as captured, or value-weighted when the toggle is on."""
    return weighted(cap.head(layer, head), norms_of(layer)[head]) if value_weighted else cap.head(layer, head)


def generated_view() -> None:
    """Generate from the text, then walk through the new tokens: what each one's query looked at (every head of
    the picked layer, and every layer's mean), its top alternatives and the entropy."""
    if loaded.kind != "causal":
        st.info(f"{info.name} is an encoder: it does not generate. Pick SmolLM2 (or another causal model).")
        return
    cols = st.columns([1, 1, 2])
    new_tokens = cols[0].number_input("New tokens", 1, MAX_NEW_TOKENS, 24, persist_state="session", key="attn_gen_n")
    request = (loaded.spec, loaded.peft is not None, text, chat, int(new_tokens))
    if cols[1].button("Generate and inspect", type="primary", key="attn_gen_run"):
        with st.spinner(f"Generating {int(new_tokens)} tokens with eager attention"):
            with ui.model_turn(loaded):
                st.session_state["attn_generated"] = (request, generate_and_inspect(loaded, text, int(new_tokens),
                                                                                    chat=chat))
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
    chosen = g.prompt_len + step
    plain = [re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~:$])", r"\\\1", t) for t in g.tokens]  # markdown-safe
    shown = "".join(f":red-background[{plain[i]}]" if i == chosen else plain[i] for i in range(g.prompt_len,
                                                                                                 len(plain)))
    st.markdown(f"Generated ({g.steps} tokens, {g.seconds:.1f} s): {shown}")
    keys = np.arange(chosen)
    labels = plots.position_labels(g.tokens, keys)
    ui.chart(plots.head_heatmap(g.rows[step][layer].astype(np.float32), [f"H{h}" for h in range(info.heads)],
                                labels, title=f"Step {step}: token {chosen} `{g.tokens[chosen]}`, layer "
                                              f"{layer}, every head (query: position {chosen - 1})"),
             key="attn_gen_heads")
    ui.chart(plots.layers_by_key(g.rows[step].astype(np.float32).mean(1), labels,
                                 f"Step {step}: every layer, mean over heads"), key="attn_gen_layers")
    alternatives = token_labels(loaded.tokenizer, [int(i) for i in g.top_ids[step]])
    if len(set(alternatives)) < len(alternatives):  # a category axis merges equal labels
        alternatives = [f"{a} ({int(i)})" for a, i in zip(alternatives, g.top_ids[step])]
    ui.chart(plots.generation_step(alternatives, g.top_probs[step], g.entropy, step,
                                   g.tokens[g.prompt_len:]), key="attn_gen_step_fig")


def attribution_view() -> None:
    """Which input tokens drove one output: the picked method per token, and the faithfulness panel (rollout and
    every method side by side, rank correlations, a warning when they disagree)."""
    cols = st.columns(4)
    what = "token (empty: the greedy next token)" if causal else "text (empty: the embedding's norm)"
    target = cols[0].text_input(f"Target {what}", persist_state="session", key="attn_attr_target",
                                help="A leading space is part of a token (␣ works too); id:N for a token id.")
    contrast = cols[1].text_input("Contrast (optional)", persist_state="session", key="attn_attr_contrast",
                                  help="Attribute target minus contrast, e.g. ' she' vs ' he'.")
    method = cols[2].selectbox("Method", list(attr.METHODS), 1, format_func=attr.METHODS.get, persist_state="session",
                               key="attn_attr_method")
    steps = cols[3].number_input("IG steps", 2, attr.MAX_STEPS, 32, persist_state="session", key="attn_attr_steps")
    adapter = ui.adapter_picker(loaded, "attn_attr_adapter") if causal else None
    request = (loaded.spec, text, chat, int(max_tokens), target, contrast, int(steps), getattr(adapter, "name", None))
    if st.button("Attribute", type="primary", key="attn_attr_run"):
        bar = st.progress(0.0, text="Attribution")
        try:
            st.session_state["attn_attribution"] = (request, attr.faithfulness(
                loaded, text, target=target, contrast=contrast, steps=int(steps), chat=chat,
                max_tokens=int(max_tokens), adapter=adapter, progress=lambda f, m: bar.progress(f, text=m)))
        finally:
            bar.empty()
    kept = st.session_state.get("attn_attribution")
    if kept is None:
        st.caption("Runs rollout, gradient x input, integrated gradients and occlusion (Captum) for one output.")
        return
    made_with, panel = kept
    if made_with != request:
        st.warning("The text or a setting changed since this attribution: press Attribute to redo it.",
                   icon=":material/history:")
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


def contributions_view() -> None:
    """Which heads and MLPs carried information to one token (information-flow routes, Ferrando & Voita 2024): one
    traced pass, then the graph re-walked for any token and threshold; a click on a head edge opens that head."""
    cols = st.columns(3)
    token = cols[0].number_input("Token the graph starts from", 0, n - 1, n - 1, persist_state="session",
                                 key=ui.fit_kept("attn_ctb_token", 0, n - 1))
    threshold = cols[1].slider("Threshold (share of a block's output)", 0.0, 0.5, contrib.DEFAULT_THRESHOLD, 0.01,
                               persist_state="session", key="attn_ctb_threshold")
    adapter = ui.adapter_picker(loaded, "attn_ctb_adapter") if causal else None
    request = (loaded.spec, text, chat, int(max_tokens), getattr(adapter, "name", None))
    kept = st.session_state.get("attn_contrib")
    if kept is None or kept[0] != request:
        with st.spinner("One forward pass with every head's and MLP's contribution"):
            kept = (request, contrib.trace_contributions(loaded, text, adapter=adapter, chat=chat,
                                                         max_tokens=int(max_tokens)))
        st.session_state["attn_contrib"] = kept
    trace = kept[1]
    graph = contrib.contribution_graph(trace, int(token), float(threshold))
    where = f"token {graph.token} {graph.tokens[graph.token]!r}" + (f" with {graph.adapter}" if graph.adapter else "")
    ui.chart(plots.contribution_graph(graph.nodes_frame(), graph.to_frame(), graph.tokens, graph.n_layers,
                                      title=f"Contributions to {where}"),
             key="attn_ctb_graph", on_select=open_clicked_edge, selection_mode="points")
    st.caption(f"{len(graph.edges)} edges above {graph.threshold:g} from one pass in {trace.seconds:.1f} s. Click a "
               "head edge to open that head's map.")
    ui.chart(plots.importance_heatmap(contrib.component_importance(trace, graph.token),
                                      f"Component importance at {where}"), key="attn_ctb_importance")
    c = st.columns(2)
    v_layer = c[0].selectbox("Vocabulary projection: layer", range(trace.n_layers), trace.n_layers - 1,
                             persist_state="session", key=ui.fit_kept("attn_ctb_vlayer", options=range(trace.n_layers)))
    parts = ["residual", "attention", "mlp", *(f"head {h}" for h in range(trace.n_heads))]
    part = c[1].selectbox("Component", parts, 2, persist_state="session",
                          key=ui.fit_kept("attn_ctb_part", options=parts))
    vp = contrib.vocabulary_projection(loaded, trace, int(v_layer), part, graph.token)
    ui.chart(plots.vocabulary_bars(vp.promoted, vp.promoted_logits, vp.suppressed, vp.suppressed_logits,
                                   f"Layer {v_layer} {part} at {where}: tokens it promotes and suppresses"),
             key="attn_ctb_vocab")


def open_clicked_edge() -> None:
    """A click on a head edge of the contribution graph opens that head's map (One head view)."""
    for point in st.session_state["attn_ctb_graph"].selection.points:
        data = point.get("customdata")
        if data is None:
            continue
        layer_head = [data[k] for k in sorted(data, key=int)] if isinstance(data, dict) else list(data)
        if int(layer_head[1]) >= 0:
            st.session_state["attn_layer"], st.session_state["attn_head"] = int(layer_head[0]), int(layer_head[1])
            st.session_state["attn_view"] = "One head"
            return


def open_clicked_head() -> None:
    points = [p for p in st.session_state["attn_grid"].selection.points if p.get("customdata") is not None]
    if points:
        data = points[0]["customdata"]  # [layer, head]; plotly may hand back an index-keyed object
        layer_head = [data[k] for k in sorted(data, key=int)] if isinstance(data, dict) else list(data)
        st.session_state["attn_layer"], st.session_state["attn_head"] = (int(v) for v in layer_head[:2])
        st.session_state["attn_view"] = "One head"


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

view = st.radio("View", VIEWS, horizontal=True, persist_state="session", key="attn_view")
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
weighting = " (value-weighted)" if value_weighted else ""
causal = loaded.kind == "causal"

try:
    if view == "One head":
        cap = capture((layer,))
        mv = views.map_view(shown_head(cap, layer, head), tokens, causal=causal, start=start, end=end,
                            rows=views.query_rows(rows_text, n), hide_first=hide_first)
        ui.chart(plots.head_heatmap(mv.matrix, mv.query_labels, mv.key_labels, masked=mv.masked,
                                    title=f"Layer {layer}, head {head}{weighting}"), key="attn_head_fig")
        st.caption(f"Captured in {cap.seconds:.1f} s. " + mv.note)
    elif view == "All heads":
        cap = capture((0,), scan=True)
        ui.chart(plots.thumbnail_grid(cap.overview, cap.statistics, causal=causal, selected=(layer, head)),
                 key="attn_grid", on_select=open_clicked_head, selection_mode="points", width="content")
        st.caption(f"{info.layers} layers x {info.heads} heads, each tile scaled to its own maximum"
                   + (f", {len(cap.overview_edges) - 1} token blocks a side" if n > OVERVIEW else "")
                   + ". Click a tile (or pick Layer and Head above) to open it.")
    elif view == "Token focus":
        token = st.number_input("Token", 0, n - 1, min(1, n - 1), persist_state="session",
                                key=ui.fit_kept("attn_token", 0, n - 1))
        cap = capture((layer,))
        out, into = core.token_flow(cap, layer, int(token))
        keys = np.arange(start, end)
        ui.chart(plots.token_lines(out[:, keys], tokens, keys, int(token)), key="attn_lines_out")
        ui.chart(plots.token_lines(into[:, keys], tokens, keys, int(token), direction="is attended by"),
                 key="attn_lines_in")
        scan = capture((0,), scan=True)
        rows, starts = views.focus_across_layers(scan, int(token))
        ui.chart(plots.layers_by_key(rows, [f"{s} {tokens[s]}" for s in starts],
                                     f"Token {token} across layers (mean over heads)"), key="attn_layers")
    elif view == "Statistics":
        stats = capture((0,), scan=True).statistics
        value = st.selectbox("Colour by", list(core.STATISTIC_LEGEND), persist_state="session", key="attn_stat")
        ui.chart(plots.statistics_heatmap(stats, value), key="attn_stats_fig")
        st.dataframe(stats.round(3), hide_index=True, width="stretch", key="attn_stats_table")
        st.markdown("\n".join(f"- **{k}**: {v}" for k, v in core.STATISTIC_LEGEND.items()))
        st.markdown("\n".join(f"- **{k}** ({plots.KIND_MARK[k] or 'no mark'}): {v}"
                              for k, v in core.HEAD_KINDS.items()))
        st.bar_chart(stats.label.value_counts())
    elif view == "Aggregates":
        cap = capture((layer,))
        heads_mean = np.mean([shown_head(cap, layer, h) for h in range(info.heads)], 0) if value_weighted \
            else core.mean_over_heads(cap, layer)
        mean = views.map_view(heads_mean, tokens, causal=causal, start=start, end=end,
                              hide_first=hide_first)
        ui.chart(plots.head_heatmap(mean.matrix, mean.query_labels, mean.key_labels, masked=mean.masked,
                                    title=f"Layer {layer}: mean over heads{weighting}"), key="attn_mean_fig")
        if n <= FULL_ALL_LAYERS:
            full = capture(None)
            roll = views.map_view(core.rollout(full.pattern[: layer + 1]), tokens, causal=causal,
                                  start=start, end=end, hide_first=hide_first)
            title = f"Attention rollout, layers 0-{layer}"
        else:
            scan = capture((0,), scan=True)
            edges = scan.overview_edges
            block_tokens = [f"{a}-{b - 1} {tokens[a]}…" for a, b in zip(edges[:-1], edges[1:])]
            roll = views.map_view(core.rollout(scan.overview[: layer + 1]), block_tokens, causal=causal)
            title = f"Attention rollout over {len(block_tokens)} token blocks, layers 0-{layer} (approximate)"
        ui.chart(plots.head_heatmap(roll.matrix, roll.query_labels, roll.key_labels, masked=roll.masked,
                                    title=title), key="attn_rollout_fig")
    elif view == "Row math":
        query = st.number_input("Query token", 0, n - 1, n - 1, persist_state="session",
                                key=ui.fit_kept("attn_query", 0, n - 1))
        cap = capture((layer,))
        with ui.model_turn(loaded):
            m = row_math(loaded, cap, layer, head, int(query))
        st.latex(r"\mathrm{weights} = \mathrm{softmax}\Big(\frac{q\,K^\top}{\sqrt{d_k}} + \mathrm{mask}\Big),"
                 rf"\quad d_k = {m.head_dim},\ \tfrac{{1}}{{\sqrt{{d_k}}}} = {m.scale:.4f}")
        st.caption(f"Layer {layer}, query head {head} (key/value head {m.kv_head}), query token {query} "
                   f"`{tokens[int(query)]}`; q and k from the layer's own projections"
                   + (", rotary position embedding applied." if m.rotary else "."))
        keys = np.arange(start, min(end, n))
        ui.chart(plots.row_math_figure(m.scores[keys], m.weights[keys], m.visible[keys],
                                       plots.position_labels(tokens, keys)), key="attn_math_fig")
        st.dataframe(pd.DataFrame({"key": plots.position_labels(tokens, keys), "q·k": (m.keys @ m.q)[keys],
                                   "score": m.scores[keys], "masked": ~m.visible[keys], "weight": m.weights[keys],
                                   "captured": cap.head(layer, head)[int(query), keys]}),
                     hide_index=True, width="stretch")
    elif view == "Generated":
        generated_view()
    elif view == "Attribution":
        attribution_view()
    elif view == "Contributions":
        contributions_view()
    elif view == "bertviz":
        picked = st.multiselect("Layers for bertviz", range(info.layers), default=[layer], persist_state="session",
                                key="attn_bv_layers")
        kind = st.radio("bertviz view", ["head", "model"], horizontal=True, persist_state="session", key="attn_bv_kind")
        if picked:
            bertviz_view.check_size(len(picked), info.heads, n)
            html = bertviz_view.bertviz_html(capture(tuple(sorted(picked))), kind)
            st.caption(f"bertviz {kind} view, {len(picked)} layer(s), {ui.human_bytes(len(html))} of HTML; "
                       "scripts served by the app (no CDN).")
            st.download_button("Download this bertviz view (HTML)", html, f"bertviz-{kind}.html", "text/html",
                               key="attn_bv_download", icon=":material/download:")
            components.html(html, height=420 + (180 * len(picked) if kind == "model" else 0), scrolling=True)
except WorkbenchError as err:
    ui.show_error(err)
ui.copy_as_code(snippets.attention_code(
    loaded.spec, text, view=view, layer=layer, head=head, max_tokens=int(max_tokens), chat=chat,
    token=st.session_state.get("attn_token", 0), query=st.session_state.get("attn_query", n - 1),
    picked=st.session_state.get("attn_bv_layers"), new_tokens=st.session_state.get("attn_gen_n", 24),
    attribution={k: st.session_state.get(f"attn_attr_{k}") for k in ("target", "contrast", "method", "steps")}
    | {"adapter": None if not causal or st.session_state.get("attn_attr_adapter") == adapters.BASE_CHOICE
       else st.session_state.get("attn_attr_adapter")},
    contributions={"token": st.session_state.get("attn_ctb_token"),
                   "threshold": st.session_state.get("attn_ctb_threshold"),
                   "adapter": None if not causal or st.session_state.get("attn_ctb_adapter") == adapters.BASE_CHOICE
                   else st.session_state.get("attn_ctb_adapter")},
    notes=snippets.page_only(value_weighted=value_weighted, hide_first_token=hide_first,
                             token_range_zoom=(start, end) != (0, n), query_rows=bool(rows_text))))
