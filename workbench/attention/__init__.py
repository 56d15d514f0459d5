"""Attention: capture maps from the layer's own q/k/v (hooks, eager only where read), head statistics, views for
long inputs, the math of one row, bertviz for picked layers, the contribution graph, input attribution, and both
for a base model against its adapter; `figures.py` draws them, `cli.py` runs them headless."""
