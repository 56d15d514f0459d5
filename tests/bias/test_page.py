"""Bias page under AppTest: its tabs come from the probe registry, a toy probe's tab shows what its entry
declares, and the adapter picker uses the shared no-adapter label."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from workbench.bias import data
from workbench.models import adapters

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _bias_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("pages/bias.py").run()
    assert not at.exception
    return at


def test_each_registered_probe_gets_a_tab_that_draws_what_its_entry_declares(toy_probe, workspace_home):
    at = _bias_page()
    assert [t.label for t in at.tabs] == ["Pronouns × occupations", "CrowS-Pairs", "BOLD sentiment", "Toy lengths",
                                          "Before / after"]
    assert at.selectbox(key="bias_adapter").options[0] == adapters.BASE_CHOICE
    toy_tab = at.tabs[3]
    assert any(f"Data: **{toy_probe.source.name}**" in c.value for c in toy_tab.caption)
    at.number_input(key="toy_n").set_value(7).run()
    at.button(key=f"bias_run_{toy_probe.name}").click().run()
    assert not at.exception and not at.error
    pairs = data.load_crows_pairs(data.default_path("crows-pairs")).head(7)
    words = pairs["stereo"].str.split().str.len() - pairs["anti"].str.split().str.len()
    toy_tab = at.tabs[3]
    assert [(m.label, m.value) for m in toy_tab.metric] == [("Mean word gap", f"{words.mean():+.2f}")]
    assert any(c.value == "words of the stereotyping sentence minus the other" for c in toy_tab.caption)
    shown = toy_tab.dataframe[0].value.set_index("bias_type")["gap"]
    expected = words.groupby(pairs["bias_type"]).mean()
    assert shown.sort_index().round(6).tolist() == expected.sort_index().round(6).tolist()
    assert any(c.value.startswith("Computed in") for c in toy_tab.caption)


def test_before_after_tab_offers_every_registered_probe_once_an_adapter_is_picked(toy_probe, smollm2,
                                                                                  workspace_home):
    from peft import LoraConfig, get_peft_model

    from workbench.models import load

    at = _bias_page()
    assert any("Pick an adapter above" in i.value for i in at.tabs[-1].info)
    config = LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM")
    staging = adapters.staging_dir("page-bias")
    get_peft_model(load(smollm2.spec).model, config).save_pretrained(staging)  # fresh base, not the shared one
    adapters.register(staging, "page-bias", {"base_model": smollm2.info.name})
    at = _bias_page()
    at.selectbox(key="bias_adapter").select("page-bias").run()
    assert any("Active adapter: **page-bias**" in i.value for i in at.info)
    assert at.radio(key="bias_compare_probe").options == ["pronouns", "crows-pairs", "bold-sentiment", "toy-lengths"]
    at.radio(key="bias_compare_probe").set_value("toy-lengths").run()
    at.button(key="bias_run_compare").click().run()
    assert not at.exception and not at.error
    assert any("change = adapter − base in `gap`" in c.value for c in at.tabs[-1].caption)
