"""A toy probe for the tests of the registry: one entry plus its run function, removed after each test."""

import pytest

from workbench.bias import data, probes


def _sentence_lengths(loaded, path, settings, progress):
    """A toy probe: words per CrowS-Pairs sentence, stereotyping against the other, per bias type."""
    pairs = data.load_crows_pairs(path).head(settings.limit)
    pairs = pairs.assign(gap=pairs["stereo"].str.split().str.len() - pairs["anti"].str.split().str.len())
    by_type = pairs.groupby("bias_type", as_index=False)["gap"].mean()
    progress(1.0, "counted")
    return {"pairs": len(pairs), "mean_gap": float(pairs["gap"].mean())}, {"by_type": by_type}


@pytest.fixture
def toy_probe():
    """One registry entry plus its run function, removed after the test."""
    probe = probes.register_probe(probes.Probe(
        name="toy-lengths", title="Toy lengths", description="word-count gap per pair", suffix="csv",
        source=data.SOURCES["crows-pairs"], data_file=lambda s: data.default_path("crows-pairs"),
        run=_sentence_lengths, settings=("limit",), inputs=(probes.SettingInput("limit", "Pairs", "toy_n", 5, 1, 9),),
        headlines=(probes.Headline("Mean word gap", "{mean_gap:+.2f}"),), figures=(),
        tables=(probes.TableView("by_type", caption="words of the stereotyping sentence minus the other"),),
        group_metric=("by_type", "bias_type", "gap")))
    yield probe
    probes.unregister_probe("toy-lengths")
    assert "toy-lengths" not in probes.PROBES
