"""Attention capture checked against an independent recomputation from each layer's own q/k projections;
statistics, rollout and downsampling checked on small hand-made maps."""

import math

import numpy as np
import pytest
import torch

from workbench.attention.capture import (
    EmptyText,
    LayerOutOfRange,
    capture_attention,
    downsample,
    head_statistics,
    renormalise_without_first,
    rollout,
    statistics_of_maps,
)

TEXT = "The cat sat on the mat. The cat sat on the"


def _attention_input(loaded, ids: list[int], layer: int, module) -> torch.Tensor:
    """The hidden states entering `module` (layer `layer`'s attention) for these token ids, (1, T, D)."""
    seen = {}

    class Enough(Exception):
        pass

    def grab(_module, args, kwargs):
        seen["h"] = args[0] if args else kwargs["hidden_states"]
        raise Enough  # later layers are not needed

    handle = module.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.inference_mode():
            loaded.model(input_ids=torch.tensor([ids]))
    except Enough:
        pass
    finally:
        handle.remove()
    return seen["h"].detach().float()


def _rotary(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary position embedding written out from the RoFormer paper (half-split layout), x: (H, T, d)."""
    _, t, d = x.shape
    inv = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)   # (d/2,)
    angles = torch.arange(t, dtype=torch.float64)[:, None] * inv[None, :]   # (T, d/2)
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., : d // 2].double(), x[..., d // 2:].double()
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)       # (H, T, d)


# Both engines: today's eager maps, and query blocks of 5 rows (several blocks, the last one ragged).
ENGINES = [pytest.param({"engine": "maps"}, id="maps"),
           pytest.param({"engine": "blocks", "block_rows": 5}, id="blocks")]


@pytest.mark.parametrize("engine", ENGINES)
def test_smollm2_capture_matches_softmax_of_rotary_qk_with_causal_mask(smollm2, engine):
    layer = 3
    cap = capture_attention(smollm2, TEXT, layers=[layer], **engine)
    assert cap.n_tokens > 10 and cap.n_tokens % 5 != 0                       # blocks: 5, 5, ..., ragged last
    attn = smollm2.model.model.layers[layer].self_attn
    h = _attention_input(smollm2, cap.input_ids.tolist(), layer, attn)[0]   # (T, D)
    cfg = smollm2.model.config
    d, n_heads, n_kv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
    t = h.shape[0]
    with torch.inference_mode():
        q = attn.q_proj(h).view(t, n_heads, d).transpose(0, 1)                 # (H, T, d)
        k = attn.k_proj(h).view(t, n_kv, d).transpose(0, 1)                    # (Hkv, T, d)
    q, k = _rotary(q, cfg.rope_parameters["rope_theta"]), _rotary(k, cfg.rope_parameters["rope_theta"])
    k = k.repeat_interleave(n_heads // n_kv, dim=0)                           # query head i uses kv head i // 3
    scores = q @ k.transpose(1, 2) / math.sqrt(d)                               # (H, T, T)
    scores = scores.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
    expected = torch.softmax(scores, -1).numpy()
    got = cap.pattern[0].astype(np.float64)
    assert cap.pattern.dtype == np.float16 and cap.pattern.shape == (1, 9, t, t)
    np.testing.assert_allclose(got, expected, atol=2e-3)
    assert np.abs(got - expected).max() < 2e-3
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=5e-3)
    assert np.all(got[:, np.triu_indices(t, 1)[0], np.triu_indices(t, 1)[1]] == 0)


@pytest.mark.parametrize("engine", ENGINES)
def test_minilm_capture_matches_bidirectional_bert_softmax(minilm, engine):
    layer = 2
    cap = capture_attention(minilm, "The cat sat on the mat, and then it slept.", layers=[layer], **engine)
    assert cap.n_tokens > 10 and cap.n_tokens % 5 != 0
    attn = minilm.model.encoder.layer[layer].attention.self
    h = _attention_input(minilm, cap.input_ids.tolist(), layer, attn)[0]     # (T, D)
    t, heads = h.shape[0], minilm.model.config.num_attention_heads
    d = h.shape[1] // heads
    with torch.inference_mode():
        q = attn.query(h).view(t, heads, d).transpose(0, 1)
        k = attn.key(h).view(t, heads, d).transpose(0, 1)
    mask = torch.zeros(t)                                                       # all tokens real: nothing masked
    expected = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d) + mask, -1).numpy()
    assert cap.kind == "encoder" and cap.tokens[0] == "[CLS]" and cap.pattern.shape == (1, 12, t, t)
    np.testing.assert_allclose(cap.pattern[0].astype(np.float64), expected, atol=2e-3)
    assert (cap.pattern[0][:, 0, -1] > 0).all()                               # first token sees the last one


def test_capture_keeps_only_requested_layers_and_stops_early(smollm2):
    cap = capture_attention(smollm2, TEXT, layers=[4, 1, 4])
    assert cap.layers == [1, 4] and cap.pattern.shape[:2] == (2, 9)
    assert cap.model_name == "smollm2-135m-instruct" and cap.kind == "causal" and not cap.truncated
    assert len(cap.tokens) == cap.input_ids.shape[0] == cap.pattern.shape[-1]
    again = capture_attention(smollm2, TEXT, layers=[4])
    np.testing.assert_allclose(again.pattern[0], cap.pattern[1], atol=2e-3)   # same map however captured


def test_capture_truncates_long_text_and_says_so(smollm2):
    cap = capture_attention(smollm2, TEXT * 4, layers=[0], max_tokens=16)
    assert cap.truncated and cap.n_tokens == 16 and cap.original_tokens > 16


def test_capture_rejects_empty_text_and_out_of_range_layers(smollm2):
    with pytest.raises(EmptyText, match="text"):
        capture_attention(smollm2, "   ", layers=[0])
    with pytest.raises(LayerOutOfRange, match="layer 30 is out of range"):
        capture_attention(smollm2, TEXT, layers=[30])
    cap = capture_attention(smollm2, "Hi there", layers=[0])
    with pytest.raises(LayerOutOfRange, match="head 9"):
        cap.head(0, 9)


def test_overview_and_all_layer_statistics_come_from_one_pass(minilm):
    cap = capture_attention(minilm, TEXT, layers=[1], overview_size=4, all_statistics=True)
    assert cap.overview.shape == (6, 12, 4, 4)
    np.testing.assert_allclose(cap.overview.astype(np.float32).sum(-1), 1.0, atol=5e-3)
    stats = head_statistics(cap)
    assert len(stats) == 6 * 12
    own = statistics_of_maps(cap.pattern, cap.layers)
    np.testing.assert_allclose(stats[stats.layer == 1].entropy.to_numpy(), own.entropy.to_numpy(), atol=1e-2)


@pytest.mark.parametrize("fixture", ["smollm2", "minilm"])
def test_block_engine_reductions_equal_the_eager_maps_reductions(request, fixture):
    loaded = request.getfixturevalue(fixture)
    text = TEXT + " and the dog lay by the door."
    options = {"overview_size": 4, "all_statistics": True, "focus": [0, 6, 13]}
    maps = capture_attention(loaded, text, layers=[1, 4], engine="maps", **options)
    blocks = capture_attention(loaded, text, layers=[1, 4], engine="blocks", block_rows=6, **options)
    assert maps.n_tokens % 6 != 0 and maps.n_tokens > 12
    for name in ("pattern", "overview", "focus_rows", "focus_columns"):
        a, b = getattr(maps, name).astype(np.float32), getattr(blocks, name).astype(np.float32)
        assert a.shape == b.shape, name
        np.testing.assert_allclose(b, a, atol=1e-3, err_msg=name)     # float16: one unit in the last place
    assert blocks.overview.shape[0] == loaded.info.layers and blocks.focus_rows.shape[2] == 3
    a, b = maps.statistics, blocks.statistics
    assert list(a.columns) == list(b.columns) and (a.label == b.label).all()
    for column in ("entropy", "entropy_ratio", "mean_distance", "sink_share", "previous_share", "self_share"):
        np.testing.assert_allclose(b[column], a[column], rtol=1e-4, atol=1e-5, err_msg=column)


def test_grid_capture_keeps_no_full_maps(smollm2):
    cap = capture_attention(smollm2, TEXT, layers=[], overview_size=4, all_statistics=True)
    assert cap.pattern.shape == (0, 9, cap.n_tokens, cap.n_tokens) and cap.layers == []
    assert cap.overview.shape == (30, 9, 4, 4) and len(cap.statistics) == 30 * 9


def test_capture_rejects_unknown_engine_and_focus_out_of_range(smollm2):
    from workbench.errors import InvalidSetting

    with pytest.raises(InvalidSetting, match="`engine` must be one of"):
        capture_attention(smollm2, TEXT, layers=[0], engine="fast")
    with pytest.raises(InvalidSetting, match="focus token 99 is out of range"):
        capture_attention(smollm2, TEXT, layers=[0], focus=[99])


def _uniform_causal(t: int) -> np.ndarray:
    p = np.tril(np.ones((t, t), np.float32))
    return p / p.sum(-1, keepdims=True)


def test_statistics_match_hand_computed_values_on_constructed_maps():
    t = 4
    previous = np.eye(t, k=-1, dtype=np.float32)
    previous[0, 0] = 1.0                                   # row 0 can only see itself
    sink = np.zeros((t, t), np.float32)
    sink[:, 0] = 1.0
    maps = np.stack([previous, sink, _uniform_causal(t)])[None]   # (1 layer, 3 heads, 4, 4)
    s = statistics_of_maps(maps, [7]).set_index("head")
    assert list(s.layer) == [7, 7, 7]
    # previous-token head: every row one-hot -> entropy 0; distance 0,1,1,1 -> 0.75; prev share 1 over rows 1..3
    assert s.loc[0, "entropy"] == pytest.approx(0.0, abs=1e-6)
    assert s.loc[0, "mean_distance"] == pytest.approx(0.75)
    assert s.loc[0, "previous_share"] == pytest.approx(1.0)
    assert s.loc[0, "sink_share"] == pytest.approx(1 / 3)             # row 1's previous token is token 0
    assert s.loc[0, "self_share"] == pytest.approx(0.0)
    assert s.loc[0, "label"] == "previous-token"
    # sink head: distances 0,1,2,3 -> 1.5; sink share 1; self share (rows 1..3) 0
    assert s.loc[1, "mean_distance"] == pytest.approx(1.5)
    assert s.loc[1, "sink_share"] == pytest.approx(1.0)
    assert s.loc[1, "self_share"] == pytest.approx(0.0)
    assert s.loc[1, "label"] == "sink"
    # uniform causal head: entropy mean(log 1, log 2, log 3, log 4); distance mean(0, .5, 1, 1.5)
    assert s.loc[2, "entropy"] == pytest.approx(np.mean(np.log([1, 2, 3, 4])), rel=1e-5)
    assert s.loc[2, "mean_distance"] == pytest.approx(0.75)
    assert s.loc[2, "entropy_ratio"] == pytest.approx(1.0, rel=1e-5)
    assert s.loc[2, "previous_share"] == pytest.approx(np.mean([1 / 2, 1 / 3, 1 / 4]))
    assert s.loc[2, "label"] == "broad"


def test_hiding_first_token_renormalises_rows():
    p = _uniform_causal(4)
    q = renormalise_without_first(p)
    assert q.shape == (3, 3)
    np.testing.assert_allclose(q, _uniform_causal(3), rtol=1e-6)
    sink_only = np.zeros((3, 3), np.float32)
    sink_only[:, 0] = 1
    assert not np.isnan(renormalise_without_first(sink_only)).any()     # nothing left: zeros, not NaN


def test_rollout_of_identity_heads_is_identity_and_uniform_mixes():
    t = 3
    eye = np.broadcast_to(np.eye(t, dtype=np.float32), (2, 4, t, t))
    np.testing.assert_allclose(rollout(eye), np.eye(t), atol=1e-6)
    one = _uniform_causal(t)[None, None]
    expected = 0.5 * _uniform_causal(t) + 0.5 * np.eye(t)
    np.testing.assert_allclose(rollout(one), expected, atol=1e-6)
    np.testing.assert_allclose(rollout(np.concatenate([one, one])), expected @ expected, atol=1e-6)


def test_downsample_keeps_rows_stochastic_and_averages_blocks():
    p = _uniform_causal(6)[None]
    small, edges = downsample(p, 3)
    assert edges.tolist() == [0, 2, 4, 6] and small.shape == (1, 3, 3)
    np.testing.assert_allclose(small.sum(-1), 1.0, atol=1e-6)
    # block (0,0): rows 0 and 1 put all their weight in keys 0..1 -> 1.0
    assert small[0, 0, 0] == pytest.approx(1.0)
    assert small[0, 2, 1] == pytest.approx(np.mean([2 / 5, 2 / 6]))


@pytest.mark.parametrize("fixture,layer,head,query", [("smollm2", 2, 7, 9), ("minilm", 4, 11, 3)])
def test_row_math_from_projections_reproduces_the_captured_row(request, fixture, layer, head, query):
    from workbench.attention.row_math import row_math

    loaded = request.getfixturevalue(fixture)
    cap = capture_attention(loaded, TEXT, layers=[layer])
    m = row_math(loaded, cap, layer, head, query)
    assert m.rotary == (fixture == "smollm2")
    assert m.kv_head == (head // 3 if fixture == "smollm2" else head)
    np.testing.assert_allclose(m.weights, cap.head(layer, head)[query], atol=2e-3)
    assert m.weights.sum() == pytest.approx(1.0, abs=1e-5)
    if fixture == "smollm2":
        assert not m.visible[query + 1:].any() and np.all(m.weights[query + 1:] == 0)
    np.testing.assert_allclose(m.scores, m.keys @ m.q * m.scale, rtol=1e-5)


def test_cli_writes_maps_and_prints_statistics_json(tmp_path, capsys):
    import json

    from workbench.cli import main

    out = tmp_path / "maps.npz"
    assert main(["attention", "minilm-l6", "The cat sat.", "--layer", "1", "--head", "3", "--out", str(out)]) == 0
    saved = np.load(out)
    assert saved["pattern"].shape == (1, 1, 6, 6) and saved["pattern"].dtype == np.float16
    np.testing.assert_allclose(saved["pattern"].astype(np.float32).sum(-1), 1.0, atol=5e-3)
    assert list(saved["tokens"])[0] == "[CLS]"
    capsys.readouterr()
    assert main(["attention", "minilm-l6", "The cat sat.", "--stats", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 6 * 12
    assert {"layer", "head", "entropy", "mean_distance", "sink_share", "previous_share", "self_share",
            "label"} <= set(records[0])


@pytest.mark.parametrize("argv,message", [
    (["   "], "text is empty"),
    (["x", "--layer", "6"], "layer 6 is out of range"),
    (["x", "--head", "12"], "head 12 is out of range"),
    (["x", "--out", "maps.txt"], "must end in .npz"),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    from workbench.cli import main

    assert main(["attention", "minilm-l6", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_truncates_long_text_with_a_warning(capsys):
    from workbench.cli import main

    assert main(["attention", "minilm-l6", "a b c d e f", "--max-tokens", "3", "--layer", "0", "--head", "0"]) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err and "first 3" in captured.err
    assert captured.out.count("->") == 3


def test_cli_reads_the_text_from_a_file_and_says_when_there_is_none(tmp_path, capsys):
    import json

    from workbench.cli import main

    text = tmp_path / "long.txt"
    text.write_text("The cat sat on the mat. " * 40, encoding="utf-8")
    assert main(["attention", "minilm-l6", "--file", str(text), "--stats", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 6 * 12
    assert main(["attention", "minilm-l6", "--stats"]) == 2
    assert "either as an argument or with --file, not neither" in capsys.readouterr().err
    assert main(["attention", "minilm-l6", "--file", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read the text file" in capsys.readouterr().err
