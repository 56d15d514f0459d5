"""The attention explorer: every picker redraws the page's figure for what it names, with exact weights."""

import numpy as np
import pytest

import workbench as wb


@pytest.fixture(scope="module")
def explorer(smollm2):
    from workbench.attention.widget import AttentionExplorer

    result = wb.attention(smollm2, "The cat sat on the mat.", layers=[0, 2])
    return AttentionExplorer(result, wb.attention_figure)


def test_explorer_offers_the_captured_layers_every_head_and_every_token(explorer):
    cap = explorer.result.core
    assert list(explorer.layer.options) == [0, 2] and len(explorer.head.options) == cap.n_heads == 9
    assert len(explorer.token.options) == cap.n_tokens and explorer.token.value == cap.n_tokens - 1
    assert isinstance(wb.attention_explorer(explorer.result), type(explorer.box))


def test_picking_layer_and_head_shows_that_heads_exact_weights(explorer):
    explorer.layer.value, explorer.head.value, explorer.view.value = 2, 5, "head"
    fig = explorer.figure()
    assert fig.layout.title.text == "layer 2 head 5"
    z = np.array([[np.nan if v is None else v for v in row] for row in fig.data[0].z], dtype=float)
    assert np.allclose(np.nan_to_num(z), explorer.result.core.head(2, 5), atol=1e-4)
    assert "weight %{z:.4f}" in fig.data[0].hovertemplate


def test_token_view_draws_where_the_picked_token_looks(explorer):
    explorer.view.value, explorer.token.value = "token", 3
    fig = explorer.figure()
    assert fig.layout.title.text.startswith("3 ") and "attends to" in fig.layout.title.text
    explorer.view.value = "mean"
    assert "mean over 9 heads" in explorer.figure().layout.title.text
