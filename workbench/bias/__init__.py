"""Bias probes: benchmark data (data.py), scoring primitives (scoring.py), the probes and their registry
(probes.py), and cached runs with the before/after view of two runs (runs.py)."""

from workbench.bias.data import BOLD_DOMAINS, SOURCES, ProbeDataError, default_path
from workbench.bias.probes import PROBES, ProbeResult, ProbeUnsupported
from workbench.bias.runs import ProbeSettings, before_after, cached_result, run_probe

__all__ = ["BOLD_DOMAINS", "PROBES", "SOURCES", "ProbeDataError", "ProbeResult", "ProbeSettings",
           "ProbeUnsupported", "before_after", "cached_result", "default_path", "run_probe"]
