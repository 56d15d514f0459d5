"""Compare: one prompt through the base and an adapter; per-token log-prob shift; per-head attention diff."""

import numpy as np
import streamlit as st

import pages as ui
from workbench import snippets
from workbench.compare import diff as compare
from workbench.compare import figures as plots
from workbench.errors import WorkbenchError
from workbench.models import adapters

ui.ensure_shell()  # first: a page reached in Streamlit's v1 mode reruns through app.py

st.title("Compare base and fine-tuned")
loaded = ui.current_model(kinds=("causal",))

registered = {a.name: a for a in adapters.list_adapters(loaded.info.name)}
left, right = st.columns([2, 3])
names = list(registered) + ["Folder…"]
adapter_name = left.selectbox("Adapter", names, persist_state="session", key=ui.fit_kept("cmp_adapter", options=names),
                              help="Adapters registered for this base.")
folder = left.text_input("Adapter folder", persist_state="session",
                         key="cmp_folder") if adapter_name == "Folder…" else ""
prompt = right.text_area("Prompt", "Rewrite the date as YYYY-MM-DD.\nDate: March the 17th, 2020\nAnswer:",
                         persist_state="session", key="cmp_prompt", height=100)
cols = st.columns(4)
chat = cols[0].checkbox("Chat template", persist_state="session", key="cmp_chat")
max_new = cols[1].number_input("Max new tokens", 1, 512, 24, persist_state="session", key="cmp_max_new")
temperature = cols[2].number_input("Sampling temperature", 0.05, 5.0, 0.8, step=0.05, persist_state="session",
                                   key="cmp_temp")
seed = cols[3].number_input("Seed", 0, 2**31 - 1, 0, persist_state="session", key="cmp_seed")


def chosen_adapter():
    if adapter_name == "Folder…":
        if not folder.strip():
            st.info("Type an adapter folder, or register an adapter on the Fine-tune page.")
            st.stop()
        return adapters.read_adapter(folder.strip())
    return registered[adapter_name]


inputs = {"adapter": folder.strip() or adapter_name, "prompt": prompt, "chat template": chat,
          "max new tokens": int(max_new), "temperature": float(temperature), "seed": int(seed)}
try:
    adapter = chosen_adapter()
    if st.button("Generate with both", type="primary", key="cmp_run"):
        bar = st.progress(0.0, text="Generating")
        with ui.model_turn(loaded, hold=False):  # generations stream: their own thread takes the model
            st.session_state["cmp_sbs"] = compare.side_by_side(
                loaded, adapter, prompt, chat=chat, max_new_tokens=int(max_new), temperature=float(temperature),
                seed=int(seed), progress=lambda f, msg: bar.progress(f, text=msg))
        st.session_state["cmp_sbs_inputs"] = inputs
        st.session_state.pop("cmp_diff", None)
        bar.empty()
except WorkbenchError as err:
    ui.show_error(err)
    st.stop()


def copy_as_code(attention: dict | None = None) -> None:
    """Both greedy outputs and the shift as `wb.compare(...)`; with `attention`, the attention diff too."""
    ui.copy_as_code(snippets.compare_code(
        loaded.spec, adapter_name if adapter_name in registered else folder.strip(), prompt, chat=chat,
        max_new_tokens=int(max_new), seed=int(seed), attention=attention,
        notes=snippets.page_only(sampled_outputs=True, scoring_the_base_output=st.session_state.get("cmp_source")
                                 == adapters.BASE_CHOICE)))


copy_as_code()
sbs = st.session_state.get("cmp_sbs")
if sbs is None:
    st.info("Generate to see both outputs, the log-prob shift and the attention diff.")
    st.stop()

made_with = st.session_state.get("cmp_sbs_inputs", inputs)
ui.stale_notice(made_with, inputs)
base_col, tuned_col = st.columns(2)
for col, title, greedy, sampled in ((base_col, adapters.BASE_CHOICE.capitalize(), sbs.base_greedy, sbs.base_sampled),
                                    (tuned_col, f"Adapter: {sbs.adapter}", sbs.tuned_greedy, sbs.tuned_sampled)):
    col.markdown(f"**{title}**")
    col.caption("greedy")
    col.code(greedy.text or "(empty)", language=None, wrap_lines=True)
    col.caption(f"sampled (T={made_with['temperature']:g}, top-p 0.95, seed {made_with['seed']})")
    col.code(sampled.text or "(empty)", language=None, wrap_lines=True)

st.subheader("Log-probability shift of the chosen tokens")
source = st.radio("Score the greedy output of", [sbs.adapter, adapters.BASE_CHOICE], horizontal=True,
                  persist_state="session", key="cmp_source")
generation = sbs.base_greedy if source == adapters.BASE_CHOICE else sbs.tuned_greedy
try:
    scored = "base" if source == adapters.BASE_CHOICE else sbs.adapter
    with ui.model_turn(loaded):
        shift = compare.logprob_shift(loaded, adapter, generation, scored)
except WorkbenchError as err:
    ui.show_error(err)
else:
    st.markdown(plots.shift_html(shift.tokens, shift.shift), unsafe_allow_html=True)
    st.caption(f"Green: the adapter made the token likelier; red: less likely. Total shift "
               f"{shift.shift.sum():+.2f} nats over {len(shift.tokens)} tokens "
               f"(sequence probability × {np.exp(min(shift.shift.sum(), 700)):.3g}).")
    ui.chart(plots.shift_bars(shift.tokens, shift.shift, shift.logp_base, shift.logp_tuned, sbs.adapter),
             width="stretch", key="cmp_shift")

st.subheader("Attention diff")
cols = st.columns([3, 1, 1])
text = cols[0].text_area("Text to read with both models", sbs.tuned_greedy.prompt + sbs.tuned_greedy.text,
                         persist_state="session", key="cmp_attn_text", height=90)
measure = cols[1].radio("Measure", list(compare.MEASURES), format_func=compare.MEASURES.get, persist_state="session",
                        key="cmp_measure")
max_tokens = cols[2].number_input("Max tokens", 8, 512, 128, persist_state="session", key="cmp_attn_max")
if adapter_name in registered:  # the prompt's last token chose the answer's first token
    ui.open_page("attention.py", "Base vs adapter: contributions and attribution (Attention page)",
                 {"attn_text": text, "attn_chat": False, "attn_view": "Base vs adapter", "attn_diff_adapter":
                  adapter_name, "attn_diff_token": max(len(sbs.tuned_greedy.prompt_ids) - 1, 0)},
                 key="cmp_to_attn_diff", help_text="Each head's and MLP's change, and the input attribution")
copy_as_code({"text": text, "measure": measure, "max_tokens": int(max_tokens)})
diff_inputs = {"text": text, "measure": measure, "max tokens": int(max_tokens), "adapter": inputs["adapter"]}
if st.button("Compute attention diff", key="cmp_attn_run"):
    bar = st.progress(0.0, text="Capturing attention")
    try:
        with ui.model_turn(loaded):
            diff = compare.attention_diff(loaded, adapter, text, measure=measure, max_tokens=int(max_tokens),
                                          progress=lambda f, msg: bar.progress(min(f, 1.0), text=msg))
        st.session_state["cmp_diff"], st.session_state["cmp_diff_text"] = diff, text
        st.session_state["cmp_diff_inputs"] = diff_inputs
        st.session_state.pop("cmp_layer", None)  # a new diff opens its most changed head
    except WorkbenchError as err:
        ui.show_error(err)
    bar.empty()


def open_clicked_head() -> None:
    """A click on a heatmap cell picks its head in the Layer and Head boxes."""
    picked = plots.clicked_head(st.session_state["cmp_heat"].selection.points)
    if picked is not None:
        st.session_state["cmp_layer"], st.session_state["cmp_head"] = picked


diff = st.session_state.get("cmp_diff")
if diff is not None:
    ui.stale_notice(st.session_state.get("cmp_diff_inputs", diff_inputs), diff_inputs)
    ranking = diff.ranking(10)
    if st.session_state.get("cmp_layer") not in diff.layers:  # new diff, or picker state dropped on a page switch
        top = ranking.iloc[0]
        st.session_state["cmp_layer"], st.session_state["cmp_head"] = int(top["layer"]), int(top["head"])
    picker = st.columns(4)
    layer = picker[0].selectbox("Layer", diff.layers, persist_state="session",
                                key=ui.fit_kept("cmp_layer", options=diff.layers))
    heads = range(diff.divergence.shape[1])
    head = picker[1].selectbox("Head", heads, persist_state="session", key=ui.fit_kept("cmp_head", options=heads))
    heat, side = st.columns([3, 1])
    ui.chart(plots.divergence_heatmap(diff.divergence, diff.layers, compare.MEASURES[diff.measure],
                                      diff.adapter, (layer, head)),
             width="stretch", key="cmp_heat", on_select=open_clicked_head, selection_mode="points", where=heat)
    side.markdown("**Most changed heads**")
    side.dataframe(ranking, hide_index=True, height=390)
    if diff.truncated:
        st.caption(f"The text was cut to {len(diff.tokens)} tokens.")
    st.caption("Click a cell (or pick Layer and Head) to open that head; a new diff opens the most changed head.")
    base_map, tuned_map = diff.head_maps(layer, head)
    ui.chart(plots.head_maps(base_map, tuned_map, diff.tokens, layer, head, diff.adapter),
             width="stretch", key="cmp_maps")
    ui.open_page("attention.py", f"Open layer {layer}, head {head} in Attention",
                 {"attn_text": st.session_state.get("cmp_diff_text", text), "attn_chat": False,
                  "attn_layer": int(layer), "attn_head": int(head), "attn_view": "One head"}, key="cmp_to_attn",
                 help_text="The base model's map of this head on this text, with every Attention view")
