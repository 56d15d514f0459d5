"""Bias probes: benchmark data (data.py), scoring primitives (scoring.py), the probes (probes.py), and
cached runs with before/after comparison (runs.py)."""

from workbench.bias.data import BOLD_DOMAINS, SOURCES, ProbeDataError, default_path
from workbench.bias.probes import PROBES, ProbeResult, ProbeUnsupported
from workbench.bias.runs import ProbeSettings, cached_result, compare, run_probe

__all__ = ["BOLD_DOMAINS", "PROBES", "SOURCES", "ProbeDataError", "ProbeResult", "ProbeSettings",
           "ProbeUnsupported", "cached_result", "compare", "default_path", "run_probe"]
