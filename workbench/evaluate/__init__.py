"""Evaluation: data sets, metrics (perplexity, BLEU, chrF, ROUGE, exact match) with paired bootstrap intervals,
base against adapters, and a stored history; `figures.py` draws them, `cli.py` runs them headless."""
