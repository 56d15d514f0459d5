"""What the Attention page draws from a capture: the token window, picked query rows, the first token hidden,
downsampling of big windows (checked against slices and block sums of a known map), and query-row parsing."""

import numpy as np
import pytest

from workbench.attention.views import clicked_layer_head, map_view, query_rows
from workbench.errors import InvalidSetting


def causal_map(t: int, seed: int = 0) -> np.ndarray:
    """A random (T, T) lower-triangular map whose rows sum to 1."""
    p = np.tril(np.random.default_rng(seed).random((t, t), dtype=np.float32) + 0.05)
    return p / p.sum(-1, keepdims=True)


TOKENS = [f"t{i}" for i in range(40)]


def test_window_cuts_rows_and_columns_to_the_token_range():
    p = causal_map(40)
    view = map_view(p, TOKENS, causal=True, start=5, end=12)
    np.testing.assert_array_equal(view.matrix, p[5:12, 5:12])
    assert view.query_labels == view.key_labels == [f"{i} t{i}" for i in range(5, 12)]
    assert view.masked.tolist() == (np.arange(5, 12)[None, :] > np.arange(5, 12)[:, None]).tolist()
    assert not view.downsampled and view.note == "tokens 5-11 of 40"


def test_end_past_the_text_is_clipped_and_the_full_map_has_no_note():
    p = causal_map(10)
    view = map_view(p, TOKENS[:10], causal=False, end=99)
    np.testing.assert_array_equal(view.matrix, p)
    assert view.masked is None and view.note == ""


def test_picked_rows_keep_only_those_queries_inside_the_window():
    p = causal_map(40)
    view = map_view(p, TOKENS, causal=True, start=10, end=30, rows=[3, 12, 20, 35])
    np.testing.assert_array_equal(view.matrix, p[np.ix_([12, 20], np.arange(10, 30))])
    assert view.query_labels == ["12 t12", "20 t20"] and len(view.key_labels) == 20
    assert "2 picked query rows" in view.note


def test_rows_all_outside_the_window_fall_back_to_every_row():
    p = causal_map(20)
    view = map_view(p, TOKENS[:20], causal=True, start=0, end=5, rows=[15])
    assert view.matrix.shape == (5, 5)


def test_hiding_the_first_token_drops_it_and_renormalises_the_rows():
    p = causal_map(12)
    view = map_view(p, TOKENS[:12], causal=True, hide_first=True)
    rest = p[1:, 1:]
    np.testing.assert_allclose(view.matrix, rest / rest.sum(-1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(view.matrix.sum(-1), 1.0, rtol=1e-5)
    assert view.query_labels[0] == "1 t1" and "first token hidden" in view.note


def test_a_big_square_window_is_downsampled_to_blocks_whose_rows_still_sum_to_one():
    p = causal_map(40)
    view = map_view(p, TOKENS, causal=True, max_side=8)
    assert view.downsampled and view.matrix.shape == (8, 8)
    # Block (i, j): mean over the block's query rows of the weight summed over its keys (5 tokens a block).
    expected = p.reshape(8, 5, 8, 5).sum(-1).mean(1)
    np.testing.assert_allclose(view.matrix, expected, rtol=1e-5)
    np.testing.assert_allclose(view.matrix.sum(-1), 1.0, rtol=1e-5)
    assert view.query_labels[1] == "5-9 t5…" and "downsampled to 8 x 8" in view.note
    assert view.masked[0, 1] and not view.masked[1, 0] and not view.masked[1, 1]


def test_picked_rows_over_many_keys_keep_the_rows_and_sum_keys_in_blocks():
    p = causal_map(40)
    view = map_view(p, TOKENS, causal=True, rows=[7, 39], max_side=4)
    assert view.downsampled and view.matrix.shape == (2, 4) and view.masked is None
    np.testing.assert_allclose(view.matrix, p[[7, 39]].reshape(2, 4, 10).sum(-1), rtol=1e-5)
    assert view.query_labels == ["7 t7", "39 t39"] and view.key_labels[0] == "0-9 t0…"


@pytest.mark.parametrize("text, rows", [("", []), ("3", [3]), ("3, 10-12", [3, 10, 11, 12]),
                                        ("5; 1-2 ,5", [1, 2, 5]), ("18-30", [18, 19]), (" , ", [])])
def test_query_rows_parse_positions_and_ranges_and_drop_out_of_range(text, rows):
    assert query_rows(text, 20) == rows


@pytest.mark.parametrize("text", ["abc", "3, x", "1-b", "2.5", "-", "-3"])
def test_query_rows_reject_what_is_not_a_position_or_range(text):
    with pytest.raises(InvalidSetting, match="is not a position or a range like 10-20") as err:
        query_rows(text, 20)
    assert err.value.field == "rows"


def test_query_rows_reject_a_backwards_range_and_say_how_to_write_it():
    with pytest.raises(InvalidSetting, match="'12-10' runs backwards; write it as 10-12"):
        query_rows("12-10", 20)


def test_a_click_opens_the_first_point_that_names_a_head_whatever_shape_plotly_hands_back():
    residual_edge, head_edge = {"customdata": [3, -1, 0, 2]}, {"customdata": {"0": 4, "1": 7, "2": 1, "3": 2}}
    assert clicked_layer_head([{"x": 1}, residual_edge, head_edge]) == (4, 7)
    assert clicked_layer_head([residual_edge]) is None
    assert clicked_layer_head([{"customdata": [2, 5]}]) == (2, 5)
