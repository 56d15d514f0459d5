"""Attention: capture maps from the layer's own q/k/v (hooks, eager only where read), head statistics, views for
long inputs, the math of one row, bertviz for picked layers; `figures.py` draws them, `cli.py` runs them headless."""
