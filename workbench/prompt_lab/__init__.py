"""Prompt lab: sampling settings and decoding, variant grids, token probabilities and the logit lens, and a
history of runs that can be re-run and exported; `figures.py` draws them, `cli.py` runs them headless."""
