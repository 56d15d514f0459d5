"""Prompt lab: streaming generation, token view, one decoding step opened up, logit lens, variant grids, history."""

import pandas as pd
import streamlit as st

import pages as ui
from pages.parts.prompt_lab_history import history_tab
from workbench import snippets
from workbench.models import adapters
from workbench.prompt_lab import figures as plots
from workbench.prompt_lab import history as experiments
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import generate_grid, logit_lens, open_step, stream_generation, token_probabilities
from workbench.prompt_lab.grid import GridSpec, labelled_fields, template_variables
from workbench.prompt_lab.remote import stream_endpoint

ui.ensure_shell()  # first: a page reached in Streamlit's v1 mode reruns through app.py

st.title("Prompt lab")
loaded = ui.current_model(kinds=("causal",))
top = st.columns([2, 1, 3])
with top[0]:
    adapter_info = ui.adapter_picker(loaded, "pl_adapter")
adapter = adapter_info.name if adapter_info else None
adapter_choice = adapter or adapters.BASE_CHOICE
chat = top[1].toggle("Chat template", value=loaded.info.has_chat_template, persist_state="session", key="pl_chat")
system = top[2].text_input("System prompt", persist_state="session", key="pl_system", disabled=not chat) or None
st.caption(f"Model **{loaded.info.name}** · active adapter: **{adapter_choice}** · {loaded.info.dtype} on "
           f"{loaded.info.device}")


FINISHED = {"stop": "the model ended it", "length": "reached max new tokens"}


def sampling_widgets(prefix: str) -> SamplingParams:
    """Sampling settings from a row of number inputs (temperature 0 = greedy)."""
    c = st.columns(5)
    return SamplingParams(
        max_new_tokens=int(c[0].number_input("Max new tokens", 1, 1024, 48, persist_state="session",
                                             key=f"{prefix}_max")),
        temperature=float(c[1].number_input("Temperature", 0.0, 5.0, 0.0, 0.1, persist_state="session",
                                            key=f"{prefix}_temp")),
        top_k=int(c[2].number_input("Top-k", 0, 1000, 0, persist_state="session", key=f"{prefix}_topk")),
        top_p=float(c[3].number_input("Top-p", 0.01, 1.0, 1.0, 0.05, persist_state="session", key=f"{prefix}_topp")),
        repetition_penalty=float(c[4].number_input("Repetition penalty", 0.5, 3.0, 1.0, 0.05, persist_state="session",
                                                   key=f"{prefix}_rp")))


def last_generation():
    last = st.session_state.get("pl_last")
    if last is None:
        st.info("Generate something in the Generate tab first.")
    return last


endpoint = ui.endpoint_form("pl_ep")
tabs = st.tabs(["Generate", "Token view", "Decoding step", "Logit lens", "Grid", "History"])
with tabs[0], ui.guard("The Generate tab"):  # an error stays in its tab; the others keep working
    prompt = st.text_area("Prompt", "What is the capital of France?", persist_state="session", key="pl_prompt")
    params = sampling_widgets("pl")
    seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, persist_state="session", key="pl_seed"))
    c = st.columns(2)
    fast = c[0].toggle("Fast mode (int8, approximate)", persist_state="session", key="pl_fast",
                       help="An int8 copy of the base model on CPU: faster, outputs approximate.")
    remote = c[1].toggle("Ask the endpoint", persist_state="session", key="pl_ep_use", disabled=endpoint is None)
    inputs = {"prompt": prompt, "sampling settings": params, "seed": seed, "chat template": chat,
              "system prompt": system, "adapter": adapter, "fast mode": fast}
    if remote and endpoint is not None and st.button("Generate", type="primary", key="pl_ep_generate"):
        stream = stream_endpoint(endpoint, prompt, params, system=system, seed=seed)
        for warning in stream.warnings:
            st.warning(warning)
        st.write_stream(stream)
        run_id = experiments.record_generation(endpoint, stream.result, user_prompt=prompt, chat=True,
                                               system=system)
        st.caption(f"Run {run_id} · endpoint **{endpoint.label}** · {stream.result.seconds:.2f} s · "
                   f"{FINISHED.get(stream.result.finish_reason, stream.result.finish_reason)}")
    elif not remote and st.button("Generate", type="primary", key="pl_generate"):
        with ui.model_turn(loaded, hold=False):  # the stream's own thread takes the model
            stream = stream_generation(loaded, prompt, params, chat=chat, system=system, seed=seed,
                                       adapter=adapter, fast=fast)
        for warning in stream.warnings:
            st.warning(warning)
        st.write_stream(stream)
        gen = stream.result
        run_id = experiments.record_generation(loaded, gen, user_prompt=prompt, chat=chat, system=system)
        st.session_state["pl_last"] = {"gen": gen, "params": params, "adapter": adapter, "run": run_id,
                                       "inputs": inputs}
        st.session_state.pop("pl_probs", None)
    elif (last := st.session_state.get("pl_last")) is not None:
        st.markdown(last["gen"].text)
    if (last := st.session_state.get("pl_last")) is not None:
        g = last["gen"]
        st.caption(f"Run {last['run']} · {g.prompt_tokens} prompt + {g.new_tokens} new tokens in {g.seconds:.2f} s "
                   f"({g.new_tokens / max(g.seconds, 1e-9):.1f} tokens/s) · "
                   f"{FINISHED.get(g.finish_reason, g.finish_reason)} · "
                   f"adapter {g.adapter or adapters.BASE_CHOICE}"
                   + (f" · **{g.approximate}**" if g.approximate else ""))
        ui.stale_notice(last["inputs"], inputs)
        ui.open_page("attention.py", "Inspect attention on prompt + output",
                     {"attn_text": loaded.tokenizer.decode(list(g.prompt_ids) + list(g.token_ids)), "attn_chat": False,
                      "attn_view": "One head"}, key="pl_to_attn",
                     help_text="The Attention page on exactly the tokens the model read and wrote (chat template "
                               "included)")
    ui.copy_as_code(snippets.generate_code(loaded.spec, prompt, params, chat=chat, system=system, seed=seed,
                                           adapter=adapter, notes=snippets.page_only(fast_mode=fast, endpoint=remote)))

with tabs[1], ui.guard("The Token view tab"):
    if (last := last_generation()) is not None:
        g = last["gen"]
        if st.session_state.get("pl_probs", (None,))[0] != last["run"]:
            with ui.model_turn(loaded):
                st.session_state["pl_probs"] = (last["run"], token_probabilities(
                    loaded, g.prompt_ids, g.token_ids, top_k=5, adapter=last["adapter"]))
        view = st.session_state["pl_probs"][1]
        cols = st.columns(3)
        cols[0].metric("Prompt perplexity", f"{view.prompt_perplexity:.2f}" if view.prompt_perplexity else "–")
        mean_p = sum(t.prob for t in view.tokens) / max(len(view.tokens), 1)
        cols[1].metric("Mean token probability", f"{mean_p:.3f}")
        cols[2].metric("Tokens not ranked first", sum(t.rank > 1 for t in view.tokens))
        ui.chart(plots.token_probability_figure(view), key="pl_token_fig")

with tabs[2], ui.guard("The Decoding step tab"):
    if (last := last_generation()) is not None:
        g, n = last["gen"], len(last["gen"].token_ids)
        st.session_state.setdefault("pl_step", 0)
        st.session_state["pl_step"] = min(st.session_state["pl_step"], n - 1)

        def move(delta: int) -> None:
            st.session_state["pl_step"] = max(0, min(n - 1, st.session_state["pl_step"] + delta))

        cols = st.columns([1, 1, 6])
        cols[0].button("◀ Back", key="pl_back", on_click=move, args=(-1,))
        cols[1].button("Forward ▶", key="pl_forward", on_click=move, args=(1,))
        step = cols[2].slider("Step", 0, max(n - 1, 1), persist_state="session",
                              key=ui.fit_kept("pl_step", 0, max(n - 1, 1)), disabled=n < 2)
        with ui.model_turn(loaded):
            view = open_step(loaded, g.prompt_ids, g.token_ids, step, last["params"], adapter=last["adapter"])
        st.markdown("Generated so far: `" + (loaded.tokenizer.decode(g.token_ids[:step]) or " ") + "`")
        ui.chart(plots.decoding_step_figure(view), key="pl_step_fig")

with tabs[3], ui.guard("The Logit lens tab"):
    lens_text = st.text_input("Text", "The capital of France is", persist_state="session", key="pl_lens_text")
    if st.button("Run logit lens", key="pl_lens"):
        with ui.model_turn(loaded):
            lens = logit_lens(loaded, lens_text, max_tokens=48, adapter=adapter)
        ui.chart(plots.logit_lens_figure(lens), key="pl_lens_fig")

with tabs[4], ui.guard("The Grid tab"):
    template = st.text_area("Template ({variables} are filled from the table)",
                            "In one sentence, what is {thing} used for?", persist_state="session",
                            key="pl_template")
    names = template_variables(template)
    defaults = {n: ["a hammer", "a compass", "yeast"] if n == "thing" else [""] * 3 for n in names}
    rows_key = f"pl_rows_{'_'.join(names)}"
    data, widget = ui.kept_table(rows_key, pd.DataFrame(defaults or {"(no variables)": [""]}))
    rows = ui.keep_table(rows_key, st.data_editor(data, num_rows="dynamic", key=widget))
    data, widget = ui.kept_table("pl_sets", pd.DataFrame([{"name": "greedy", "max_new_tokens": 16, "temperature": 0.0,
                                                           "top_k": 0, "top_p": 1.0, "repetition_penalty": 1.0}]))
    sets = ui.keep_table("pl_sets", st.data_editor(data, num_rows="dynamic", key=widget))
    cols = st.columns(4)
    st.session_state.setdefault("pl_grid_ad", [adapter_choice])  # the grid starts with the adapter above
    with cols[0]:
        grid_adapters = ui.adapter_picker(loaded, "pl_grid_ad", label="Adapters", multiple=True)
    repeats = int(cols[1].number_input("Repeats", 1, 16, 1, persist_state="session", key="pl_repeats"))
    grid_seed = int(cols[2].number_input("Seed", 0, 2**31 - 1, 0, persist_state="session", key="pl_grid_seed"))
    batch = int(cols[3].number_input("Batch size", 1, 32, 8, persist_state="session", key="pl_batch"))
    with_endpoint = st.checkbox("Add the endpoint as a column", persist_state="session", key="pl_grid_ep",
                                disabled=endpoint is None)
    grid_inputs = {
        "template": template, "rows": [{n: str(r[n]) for n in names} for r in rows.to_dict("records")],
        "param_sets": [{k: (int(v) if k in ("max_new_tokens", "top_k") else v) for k, v in s.items()
                        if pd.notna(v)} for s in sets.to_dict("records")],
        "adapters": [a.name if a else None for a in grid_adapters],
        "repeats": repeats, "seed": grid_seed, "chat": chat, "system": system,
        "batch_size": batch, "endpoints": [endpoint.to_dict()] if with_endpoint and endpoint else []}
    ui.copy_as_code(snippets.grid_code(loaded.spec, grid_inputs))
    if st.button("Run grid", type="primary", key="pl_run_grid"):
        cancel = st.empty()
        cancel.button("Cancel", key="pl_cancel")  # any click re-runs the page, which stops the grid
        spec = GridSpec.from_dict(grid_inputs)
        bar = st.progress(0.0, text="Starting")
        with ui.model_turn(loaded):
            result = generate_grid(loaded, spec, progress=lambda f, m: bar.progress(f, text=m))
        bar.empty()
        cancel.empty()
        run_id = experiments.record_grid(loaded, spec, result)
        st.session_state["pl_grid"] = (run_id, result, spec)
    if (grid := st.session_state.get("pl_grid")) is not None:
        run_id, result, spec = grid
        st.caption(f"Run {run_id} · {len(result.cells)} cells"
                   + (f" in {result.batches} batches" if result.batches else "") + f", {result.seconds:.1f} s")
        ui.stale_notice(labelled_fields(spec.to_dict()), labelled_fields(grid_inputs))
        for warning in result.warnings:
            st.warning(warning)
        st.dataframe(experiments.grid_table(spec, result), key="pl_grid_table")

with tabs[5], ui.guard("The History tab"):
    history_tab(loaded)
