"""Notebook result objects: a core result plus the figures the pages draw, shown inline with Plotly's JavaScript
inlined (works offline), exported as HTML, JSON, SVG or PNG."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.errors import InvalidSetting

SAVE_SUFFIXES = (".html", ".json", ".svg", ".png")
# "once": the first figure a kernel shows carries plotly.js (4.7 MB) and later ones reuse it; "always": each
# output carries its own copy (for outputs that must stand alone, such as an HTML snippet copied elsewhere).
INLINE_PLOTLYJS = {"mode": "once", "shown": False}


def plain(value):
    """JSON-ready copy of a core result: dataclasses, arrays, frames and paths become lists, dicts and strings.

    A dataclass field declared `repr=False` (internal working data, such as bootstrap statistics) is left out;
    a function becomes its name."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if callable(value) and hasattr(value, "__qualname__"):
        return value.__qualname__
    if isinstance(value, pd.DataFrame):
        return [plain(row) for row in value.to_dict(orient="records")]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def figure_html(fig: go.Figure, *, full_html: bool = False, inline_js: bool = True) -> str:
    """The figure as HTML; with `inline_js` plotly.js is embedded, so nothing is fetched from a CDN."""
    return fig.to_html(include_plotlyjs=bool(inline_js), full_html=full_html, config={"displaylogo": False})


def needs_inline_js() -> bool:
    """Whether the next figure shown in this kernel must carry plotly.js (see INLINE_PLOTLYJS)."""
    if INLINE_PLOTLYJS["mode"] == "always" or not INLINE_PLOTLYJS["shown"]:
        INLINE_PLOTLYJS["shown"] = True
        return True
    return False


def use_system_chromium() -> None:
    """Point kaleido (through choreographer) at Debian's chromium instead of a downloaded browser."""
    if "BROWSER_PATH" not in os.environ:
        found = shutil.which("chromium") or shutil.which("chromium-browser")
        if found:
            os.environ["BROWSER_PATH"] = found


def figure_image(fig: go.Figure, fmt: str = "png", *, width: int = 1000, scale: float = 2.0) -> bytes:
    """A figure as PNG or SVG bytes (kaleido with the system chromium), for the pages' chart downloads."""
    use_system_chromium()
    return fig.to_image(format=fmt, width=width, height=fig.layout.height or 500, scale=scale)


@dataclass(eq=False)
class Result:
    """A core result with named figures; subclasses fill `views` (view name -> figure builder)."""

    core: object = field(repr=False)
    summary: str = ""
    views: dict[str, Callable[[], go.Figure]] = field(default_factory=dict, repr=False)
    table: Callable[[], pd.DataFrame] | None = field(default=None, repr=False)

    def figure(self, view: str | None = None) -> go.Figure:
        """The figure of `view` (the first view when None), the same function the page draws with."""
        if not self.views:
            raise InvalidSetting(f"{type(self).__name__} has no figure", field="view")
        name = view or next(iter(self.views))
        if name not in self.views:
            raise InvalidSetting(f"no view {name!r}; choose one of {', '.join(self.views)}", field="view")
        return self.views[name]()

    def to_pandas(self) -> pd.DataFrame:
        """The result as one table (one row per token, cell, example, group or log line)."""
        if self.table is None:
            raise InvalidSetting(f"{type(self).__name__} has no table", field="table")
        return self.table()

    def to_dict(self) -> dict:
        return {"type": type(self).__name__, "summary": self.summary, "result": plain(self.core)}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def save(self, path: Path | str, *, view: str | None = None, width: int = 900, height: int | None = None,
             scale: float = 1.0) -> Path:
        """Write the result to .html (plotly.js inlined), .json, .svg or .png (kaleido with the system chromium)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in SAVE_SUFFIXES:
            raise InvalidSetting(f"save to one of {', '.join(SAVE_SUFFIXES)}, got {path.name!r}", field="path")
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".json":
            path.write_text(self.to_json(indent=1))
        elif suffix == ".html":
            path.write_text(figure_html(self.figure(view), full_html=True))
        else:
            use_system_chromium()
            fig = self.figure(view)
            fig.write_image(str(path), width=width, height=height or fig.layout.height or 500, scale=scale)
        return path

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.summary}>"

    def _repr_mimebundle_(self, **_filters) -> dict:  # IPython passes include=, exclude=
        bundle = {"text/plain": repr(self)}
        if self.views:
            title = f"<p style='font-family:sans-serif'>{_escape(self.summary)}</p>"
            bundle["text/html"] = title + figure_html(self.figure(), inline_js=needs_inline_js())
        return bundle


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class AttentionResult(Result):
    """wb.attention: captured maps of the asked layers; views "head", "mean", "statistics", and with every layer
    "distances" and "sinks"."""


class ContributionResult(Result):
    """wb.contributions: the contribution graph of one token; views "graph", "importance"."""


class AttributionResult(Result):
    """wb.attribute: one method's attribution of an output to the input tokens; views "tokens", and with the
    faithfulness panel "methods" and "correlations"."""


class GenerationResult(Result):
    """wb.generate: the new text with per-token probabilities; view "tokens"."""


class StepResult(Result):
    """wb.decoding_step: one step's distribution after each processor; view "step"."""


class GridResult(Result):
    """wb.grid: every cell of a variant grid; view "table"."""


class EvaluationResult(Result):
    """wb.evaluate: scores with intervals; views "scores", "difference"."""


class CompareResult(Result):
    """wb.compare: base against an adapter; views "shift" or "attention"."""


class BiasResult(Result):
    """wb.bias: one probe, and its before/after change when an adapter was given."""


class TrainingCurves(Result):
    """A fine-tune job's metrics log; view "curves"."""
