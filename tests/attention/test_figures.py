"""Attention figures stay one screen tall on long inputs and keep what matters."""

import numpy as np

from workbench.attention import figures


def test_token_focus_at_1803_tokens_lists_the_strongest_keys_and_the_focus_in_text_order():
    rng = np.random.default_rng(0)
    n, focus = 1803, 900
    weights = rng.random((9, n)) * 0.01
    strong = [3, 17, 1500]
    weights[2, strong] = 0.9
    fig = figures.token_lines(weights, [f"t{i}" for i in range(n)], np.arange(n), focus)
    listed = list(fig.data[-1].text)  # the right-hand column of token labels
    assert len(listed) == 48 and fig.layout.height <= 18 * 48 + 80
    assert all(f"{p} t{p}" in listed for p in [*strong, focus])
    order = [int(label.split()[0]) for label in listed]
    assert order == sorted(order)
    assert "the 48 strongest of 1803 tokens" in fig.layout.title.text


def test_token_focus_on_a_short_text_lists_every_token():
    fig = figures.token_lines(np.full((2, 5), 0.2), list("abcde"), np.arange(5), 2)
    assert len(fig.data[-1].text) == 5 and "strongest" not in fig.layout.title.text
