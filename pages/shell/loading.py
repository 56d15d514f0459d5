"""The loaded model: one load per process and spec (with a progress bar), the page's model from the sidebar's
spec, one action at a time on the shared model."""

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from pages.shell.errors import show_error
from workbench import models
from workbench.errors import WorkbenchError
from workbench.models import LoadedModel, ModelSpec

_load_locks: dict[ModelSpec, threading.Lock] = {}
_load_locks_guard = threading.Lock()

# A process-wide cache, not st.cache_resource: that replays the progress bar's messages on a cache hit,
# and the bar lives in a block created outside the function, so every later run raised
# CacheReplayClosureError (home -> any page, or a second tab). Callers hold the per-spec lock.
_loaded: dict[ModelSpec, LoadedModel] = {}
MAX_LOADED = 3


def _cached_load(spec: ModelSpec, _progress) -> LoadedModel:
    if spec not in _loaded:
        _loaded[spec] = models.load(spec, progress=_progress)
        while len(_loaded) > MAX_LOADED:
            _loaded.pop(next(iter(_loaded)))  # the oldest load goes first
    return _loaded[spec]


def load_model(spec: ModelSpec) -> LoadedModel:
    """Load once per process and spec; a lock per spec so two tabs never load the same model twice."""
    with _load_locks_guard:
        lock = _load_locks.setdefault(spec, threading.Lock())
    with lock:
        bar = st.empty()

        def progress(fraction: float, message: str) -> None:
            bar.progress(min(max(fraction, 0.0), 1.0), text=message)

        try:
            return _cached_load(spec, progress)
        finally:
            bar.empty()


BUSY_MESSAGE = "The model is busy with another tab's run; waiting…"


@contextmanager
def model_turn(loaded: LoadedModel, *, hold: bool = True) -> Iterator[LoadedModel]:
    """Run one page action on the shared model: while another tab's run (a grid, a stream) holds it, the page says
    so in place, with a Cancel, instead of showing faded old output; the notice goes once the model is free.
    Re-drawing the notice while waiting lets a click in this tab (Cancel or any other) stop the wait. The action
    keeps the model to itself to the end, so a tab waiting behind it waits once. `hold=False` for actions that
    generate (`prompt_lab.generation.generate` and `stream_generation`): their worker thread takes the model
    itself, and would wait forever on this thread."""
    notice = st.empty()
    slots: list = []

    def waiting() -> None:
        if not slots:  # the Cancel once per wait (a widget drawn twice in a run is an error), the text redrawn
            box = notice.container()
            slots.append(box.empty())
            box.button("Cancel", key=f"wb_busy_cancel_{next(_waits)}", icon=":material/close:",
                       on_click=st.toast, args=("Stopped waiting for the model; nothing ran.",),
                       help="Stop waiting; the other tab's run goes on")
        slots[0].info(BUSY_MESSAGE, icon=":material/hourglass_top:")

    with models.model_turn(loaded, waiting, hold=hold, still_waiting=waiting):
        notice.empty()
        yield loaded


_waits = itertools.count()  # a fresh key for each wait's Cancel button


def current_spec() -> ModelSpec | None:
    return st.session_state.get("wb_spec")


def current_model(kinds: tuple[str, ...] = models.KINDS) -> LoadedModel:
    """The model picked in the sidebar, loaded; shows the reason in the page and stops it on failure."""
    spec = current_spec()
    if spec is None:
        st.info("Pick a model in the sidebar (type a Hugging Face id or folder for Other).")
        st.stop()
    try:
        loaded = load_model(spec)
    except WorkbenchError as err:
        show_error(err)
        st.stop()
    if loaded.kind not in kinds:
        st.warning(f"This page needs a {' or '.join(kinds)} model; {loaded.info.name} is {loaded.kind}. "
                   "Pick another model in the sidebar.")
        st.stop()
    return loaded
