"""The Attention page's views, one module each (the page reads the shared widgets, then calls one view's `draw`).

A folder, not pages/*.py files: Streamlit's v1 multipage mode would list every pages/*.py as a page."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

import pages as ui
from workbench import snippets
from workbench.attention import capture as core
from workbench.attention.cache import CaptureCache
from workbench.attention.estimate import CaptureRequest, available_memory, estimate
from workbench.attention.value_weighted import value_norms, weighted
from workbench.attention.views import clicked_layer_head
from workbench.models import LoadedModel, adapters

OVERVIEW = 32          # thumbnail side in blocks
MAX_CAPTURES = 6       # captures kept per process (a 2,048-token layer is 75 MB)


@st.cache_resource(show_spinner=False)
def _captures() -> CaptureCache:
    """One per process, keyed by (model, text, layers): switching heads never reruns the model
    (st.cache_resource itself cannot draw the progress bar of the pass it caches)."""
    return CaptureCache(MAX_CAPTURES)


@dataclass(frozen=True, eq=False)
class PageInputs:
    """What the page's shared widgets hold: the model, the text and its tokens, the picked layer and head, the map
    settings. Every view draws from these."""

    loaded: LoadedModel
    text: str
    chat: bool
    max_tokens: int
    ids: list[int]
    tokens: list[str]
    layer: int
    head: int
    hide_first: bool
    start: int              # token range (zoom)
    end: int
    rows_text: str          # query rows, e.g. "3, 10-20"; empty: all
    value_weighted: bool

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def causal(self) -> bool:
        return self.loaded.kind == "causal"

    @property
    def weighting(self) -> str:
        return " (value-weighted)" if self.value_weighted else ""

    @property
    def zoomed(self) -> bool:
        return (self.start, self.end) != (0, self.n) and self.end - self.start >= 2

    def capture(self, layers: tuple | None, scan: bool = False, span: tuple[int, int] | None = None,
                focus: int | None = None) -> core.AttentionCapture:
        """The capture of `layers` (None: all) for the text, from the process cache or one pass with a progress bar;
        `scan`: every layer's overview and statistics; `span`: only the overview of that token range (a zoom);
        `focus`: that token's rows and columns in every layer. The last three keep no full map."""
        loaded = self.loaded
        key = (loaded.spec, loaded.peft is not None, self.text, self.chat, self.max_tokens, layers, scan, span, focus)
        light = scan or span is not None or focus is not None     # every layer read, no full map kept

        def run() -> core.AttentionCapture:
            bar = st.empty()
            n, info = len(self.ids), loaded.info
            overview = OVERVIEW if scan or span is not None else None
            plan = estimate(info, n, CaptureRequest(0 if light else len(layers or range(info.layers)), light,
                                                    overview or 0), available=available_memory()).plan
            try:
                with ui.model_turn(loaded):
                    return core.capture_attention(
                        loaded, self.text, [] if light else list(layers) if layers is not None else None,
                        chat=self.chat, max_tokens=self.max_tokens, overview_size=overview, all_statistics=scan,
                        span=span, focus=None if focus is None else [focus],
                        progress=lambda f, m: bar.progress(min(f, 1.0), text=f"Capturing attention: {m}. {plan}"))
            finally:
                bar.empty()

        return _captures().get_or_capture(key, run)

    def norms_of(self, layer: int) -> np.ndarray:
        """‖f(x_j)‖ (H, T) of one layer for the value-weighted view, kept per text in the session."""
        key = ("attn_norms", self.loaded.spec, self.loaded.peft is not None, tuple(int(i) for i in self.ids), layer)
        kept = st.session_state.setdefault("attn_norms", {})
        if key not in kept:
            with st.spinner(f"Value vectors of layer {layer}"):
                kept.clear()  # one text at a time
                with ui.model_turn(self.loaded):
                    kept[key] = value_norms(self.loaded, np.asarray(self.ids), layer)
        return kept[key]

    def shown_head(self, cap: core.AttentionCapture, layer: int, head: int) -> np.ndarray:
        """The head's map as captured, or value-weighted when the toggle is on."""
        return weighted(cap.head(layer, head), self.norms_of(layer)[head]) if self.value_weighted \
            else cap.head(layer, head)


def kept_result(key: str, request, *, button: str, idle: str):
    """A result kept in the session as (inputs that made it, result): None before the first run (saying `idle`),
    with a warning when the text or a setting on screen changed since."""
    kept = st.session_state.get(key)
    if kept is None:
        st.caption(idle)
        return None
    made_with, result = kept
    if made_with != request:
        st.warning(f"The text or a setting changed since this attribution: press {button} to redo it.",
                   icon=":material/history:")
    return result


def open_head_from(chart_key: str, view: str) -> None:
    """A click on a chart point that names a head (a grid tile, a graph's head edge) opens it in the One head view.

    Only while `view` (the one that draws the chart) is picked: a click on another view sent before the page had
    finished redrawing carries the chart's old selection along, which must not pull the page back to One head."""
    if st.session_state.get("attn_view") != view:
        return
    picked = clicked_layer_head(st.session_state[chart_key].selection.points)
    if picked is not None:
        st.session_state["attn_layer"], st.session_state["attn_head"] = picked
        st.session_state["attn_view"] = "One head"


def _picked_adapter(key: str, causal: bool) -> str | None:
    """The adapter name an adapter picker holds, None for the base model (or an encoder, which has no picker)."""
    name = st.session_state.get(key)
    return None if not causal or name == adapters.BASE_CHOICE else name


def copy_code(p: PageInputs, view: str) -> None:
    """The current view with its settings as public-API calls ("Copy as code")."""
    state = st.session_state
    ui.copy_as_code(snippets.attention_code(
        p.loaded.spec, p.text, view=view, layer=p.layer, head=p.head, max_tokens=p.max_tokens, chat=p.chat,
        token=state.get("attn_token", 0), query=state.get("attn_query", p.n - 1), picked=state.get("attn_bv_layers"),
        new_tokens=state.get("attn_gen_n", 24),
        attribution={k: state.get(f"attn_attr_{k}") for k in ("target", "contrast", "method", "steps")}
        | {"adapter": _picked_adapter("attn_attr_adapter", p.causal)},
        contributions={"token": state.get("attn_ctb_token"), "threshold": state.get("attn_ctb_threshold"),
                       "adapter": _picked_adapter("attn_ctb_adapter", p.causal)},
        adapter_diff={k: state.get(f"attn_diff_{k}") for k in ("token", "target", "contrast", "steps")}
        | {"adapter": _picked_adapter("attn_diff_adapter", p.causal),
           "method": state.get("attn_diff_method") if "attn_diff_attribution" in state else None},
        notes=snippets.page_only(value_weighted=p.value_weighted, hide_first_token=p.hide_first,
                                 token_range_zoom=(p.start, p.end) != (0, p.n), query_rows=bool(p.rows_text))))
