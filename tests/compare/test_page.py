"""Compare page under Streamlit's AppTest with a registered random adapter: the attention diff opens the most
changed head, and the Layer/Head picker opens any other head."""

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="module")
def workspace_with_adapter(smollm2, random_adapter, tmp_path_factory):
    """A workspace where the random adapter is registered for SmolLM2 as `cmp-lora`."""
    from workbench.models import adapters

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_HOME", str(tmp_path_factory.mktemp("compare-page-home")))
        staging = adapters.staging_dir("cmp-lora")
        shutil.copytree(random_adapter, staging, dirs_exist_ok=True)
        adapters.register(staging, "cmp-lora", {"base_model": smollm2.info.name})
        yield


def head_maps_title(at: AppTest) -> str:
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(c["layout"]["title"]["text"] for c in charts if "who attends to whom" in c["layout"]["title"]["text"])


def test_attention_diff_opens_the_top_head_and_the_picker_opens_any_head(workspace_with_adapter):
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("pages/compare.py").run()
    assert at.selectbox(key="cmp_adapter").value == "cmp-lora"
    at.number_input(key="cmp_max_new").set_value(3)
    at.button(key="cmp_run").click().run()
    assert not at.exception and not at.error
    assert at.radio(key="cmp_source").options == ["cmp-lora", "base model (no adapter)"]
    at.number_input(key="cmp_attn_max").set_value(12)
    at.button(key="cmp_attn_run").click().run()
    assert not at.exception and not at.error
    ranking = next(d.value for d in at.dataframe if "js" in d.value.columns)
    top = int(ranking.iloc[0]["layer"]), int(ranking.iloc[0]["head"])
    assert (at.selectbox(key="cmp_layer").value, at.selectbox(key="cmp_head").value) == top
    assert head_maps_title(at) == f"Layer {top[0]}, head {top[1]}: who attends to whom"

    at.selectbox(key="cmp_layer").set_value(3)
    at.selectbox(key="cmp_head").set_value(5).run()
    assert not at.exception
    assert head_maps_title(at) == "Layer 3, head 5: who attends to whom"
    assert any("Click a cell (or pick Layer and Head)" in c.value for c in at.caption)
    assert not any(w.value.startswith("Stale") for w in at.warning)
    at.number_input(key="cmp_seed").set_value(7)
    at.number_input(key="cmp_attn_max").set_value(16).run()  # both outputs now older than their inputs
    assert [w.value for w in at.warning if w.value.startswith("Stale")] == [
        "Stale: changed since this output was made: seed. Run again to update it.",
        "Stale: changed since this output was made: max tokens. Run again to update it."]
