"""Compare base and fine-tuned: outputs side by side, per-token log-prob shift, attention divergence per head;
`figures.py` draws them, `cli.py` runs them headless."""
