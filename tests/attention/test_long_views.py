"""Long-input views from the query-block engine checked against the eager maps (engine "maps") of the same text:
distance histograms, the attention each key receives and the sinks found from it, zoomed overviews and token-focus
rows. Short texts and blocks of 8 rows (ragged last block) keep each test to seconds."""

import numpy as np
import pytest

from workbench.attention import sinks
from workbench.attention.capture import capture_attention
from workbench.attention.distances import distance_edges

TEXT = ("The old lighthouse keeper climbed the stairs every night. He lit the lamp, watched the sea and wrote "
        "in his log. One stormy night a small boat appeared near the rocks.")
ROWS = 8


@pytest.fixture(scope="module", params=["smollm2", "minilm"])
def both_engines(request):
    """(loaded, eager maps of every layer with the maps engine's own reductions, blocks-engine scan)."""
    loaded = request.getfixturevalue(request.param)
    maps = capture_attention(loaded, TEXT, None, engine="maps", all_statistics=True)
    scan = capture_attention(loaded, TEXT, [], engine="blocks", block_rows=ROWS, all_statistics=True)
    assert 30 <= maps.n_tokens <= 100 and maps.n_tokens % ROWS != 0
    return loaded, maps, scan


def _histogram(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(L, H, bins) from maps (L, H, T, T): each weight added to the bin of its |query - key|, counted directly."""
    t = p.shape[-1]
    which = np.searchsorted(edges, np.abs(np.arange(t)[:, None] - np.arange(t)[None, :]), side="right") - 1
    return np.stack([p[..., which == b].sum(-1) for b in range(len(edges) - 1)], -1)


def test_block_distance_histograms_equal_the_eager_maps(both_engines):
    _, maps, scan = both_engines
    t = scan.n_tokens
    eager = _histogram(maps.pattern.astype(np.float64), distance_edges(t))
    assert scan.distances.shape == eager.shape == (scan.n_layers, scan.n_heads, len(distance_edges(t)) - 1)
    np.testing.assert_allclose(scan.distances, eager, atol=2e-2, rtol=2e-3)          # the maps are float16
    np.testing.assert_allclose(scan.distances, maps.distances, atol=1e-3, rtol=1e-4)  # the maps engine's float32
    np.testing.assert_allclose(scan.distances.sum(-1), t, rtol=1e-5)                  # 1 per query row


def test_key_sums_and_sinks_equal_the_eager_maps_column_sums(both_engines):
    _, maps, scan = both_engines
    columns = maps.pattern.astype(np.float64).sum(-2)                                  # (L, H, T)
    np.testing.assert_allclose(scan.received, columns, atol=2e-2, rtol=2e-3)
    shares = columns.mean(1) / scan.n_tokens                                           # (L, T) mean over heads
    want = {(int(a), int(b)) for a, b in zip(*np.nonzero(shares >= sinks.SINK_MIN_SHARE))}
    found = sinks.find_sinks(scan)
    assert set(zip(found.layer, found.key)) == want
    assert (found.token == [scan.tokens[k] for k in found.key]).all()
    share, keys = sinks.strongest_keys(scan)
    np.testing.assert_array_equal(keys, columns.argmax(-1))
    if scan.causal:  # SmolLM2 parks attention on its first token in most layers
        assert (found.key == 0).sum() > scan.n_layers // 2 and share.max() > 0.5


def test_sink_threshold_must_be_a_share(both_engines):
    from workbench.errors import InvalidSetting

    with pytest.raises(InvalidSetting, match="sink threshold must lie in"):
        sinks.find_sinks(both_engines[2], threshold=1.5)


def _block_mean(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(..., S, S) of maps (..., Q, K): query rows averaged per block, keys summed per block, written out."""
    s = len(edges) - 1
    out = np.zeros((*p.shape[:-2], s, s))
    for i in range(s):
        for j in range(s):
            out[..., i, j] = p[..., edges[i]:edges[i + 1], edges[j]:edges[j + 1]].sum(-1).mean(-1)
    return out


@pytest.mark.parametrize("span", [(9, 34), (0, 17)])
def test_zoomed_overview_equals_the_block_mean_of_the_eager_sub_matrix(both_engines, span):
    loaded, maps, _ = both_engines
    first, end = span
    zoom = capture_attention(loaded, TEXT, [], engine="blocks", block_rows=ROWS, overview_size=8, span=span)
    edges = zoom.overview_edges
    assert edges[0] == first and edges[-1] == end and len(edges) == 9
    sub = maps.pattern.astype(np.float64)[..., first:end, first:end]                   # (L, H, Q, K) of the span
    np.testing.assert_allclose(zoom.overview.astype(np.float32), _block_mean(sub, edges - first), atol=2e-3)
    assert zoom.pattern.shape[0] == 0 and zoom.statistics is None                      # nothing else kept


def test_a_span_outside_the_text_or_without_an_overview_is_refused(both_engines):
    from workbench.errors import InvalidSetting

    loaded = both_engines[0]
    with pytest.raises(InvalidSetting, match="token span 5-500 must lie within"):
        capture_attention(loaded, TEXT, [], overview_size=8, span=(5, 500))
    with pytest.raises(InvalidSetting, match="give `overview_size` too"):
        capture_attention(loaded, TEXT, [], span=(5, 10))


@pytest.mark.parametrize("token", [0, 23])
def test_token_focus_rows_and_columns_from_the_engine_equal_the_eager_maps(both_engines, token):
    from workbench.attention.views import focus_across_layers

    loaded, maps, _ = both_engines
    cap = capture_attention(loaded, TEXT, [], engine="blocks", block_rows=ROWS, focus=[token])
    eager = maps.pattern.astype(np.float32)                                            # (L, H, T, T)
    np.testing.assert_allclose(cap.focus_rows[:, :, 0].astype(np.float32), eager[:, :, token], atol=1e-3)
    np.testing.assert_allclose(cap.focus_columns[:, :, :, 0].astype(np.float32), eager[..., token], atol=1e-3)
    rows, labels = focus_across_layers(cap)                                            # every key: T <= 256
    np.testing.assert_allclose(rows, eager[:, :, token].mean(1), atol=1e-3)
    assert labels[token] == f"{token} {cap.tokens[token]}"
    summed, blocks = focus_across_layers(cap, max_keys=8)                              # long: keys in 8 blocks
    assert summed.shape == (cap.n_layers, 8) and len(blocks) == 8
    np.testing.assert_allclose(summed.sum(-1), 1, atol=1e-2)


def test_cli_stats_json_carries_each_heads_distance_histogram_and_strongest_key(capsys):
    import json

    from workbench.cli import main

    assert main(["attention", "minilm-l6", TEXT, "--stats", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 6 * 12
    for record in records:
        assert list(record["distance"])[:4] == ["0", "1", "2-3", "4-7"]
        assert abs(sum(record["distance"].values()) - 1) < 1e-3
        assert record["sink"] == (record["top_key_share"] >= sinks.SINK_MIN_SHARE)
    assert {r["top_key_token"] for r in records} & {"[CLS]", "[SEP]", "."}
