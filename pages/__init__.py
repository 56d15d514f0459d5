"""The Streamlit shell: the page guard, the sidebar model and adapter pickers, the cached loader, page registry,
error display."""

from __future__ import annotations

import itertools
import json
import logging
import logging.handlers
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from workbench import models, stale, trash, workspace
from workbench.errors import WorkbenchError
from workbench.models import LoadedModel, ModelSpec, adapters
from workbench.models.adapters import AdapterInfo
from workbench.models.endpoint import EndpointSpec
from workbench.store import Store

if TYPE_CHECKING:
    from workbench.snippets import Snippet

ROOT = Path(__file__).resolve().parent.parent  # the repository: app.py and pages/
OTHER = "Other: Hugging Face id or folder…"

# (file under pages/, title, icon). A page shows up in the navigation once its file exists.
PAGES = [
    ("attention.py", "Attention", ":material/grid_view:"),
    ("prompt_lab.py", "Prompt lab", ":material/science:"),
    ("finetune.py", "Fine-tune", ":material/model_training:"),
    ("evaluate.py", "Evaluate", ":material/leaderboard:"),
    ("compare.py", "Compare", ":material/compare:"),
    ("bias.py", "Bias", ":material/balance:"),
]

# Private Streamlit flag (streamlit/runtime/pages_manager.py): v1 (pages/ folder) or v2 (st.navigation) mode.
# Fail loudly on an upgrade that drops it; the e2e test tests/e2e/test_shell_guard.py proves the guard.
assert hasattr(PagesManager, "uses_pages_directory"), "Streamlit changed; revisit ensure_shell"
SHELL_KEY = "_lw_shell_ran"  # set by app.py once per session; pages rerun through app.py until it is there


def _rerun_without_legacy_mpa() -> None:
    # The same assignment st.navigation() makes; st.rerun() keeps the page's script hash, so the v2 rerun
    # resolves the same URL through app.py.
    PagesManager.uses_pages_directory = False
    st.rerun()


def leave_legacy_mpa() -> None:
    """First statement of app.py: leave Streamlit's v1 pages/ mode, on a session's first run before any widget
    exists (so the first change of a sidebar widget is not lost)."""
    if PagesManager.uses_pages_directory and SHELL_KEY not in st.session_state:
        st.session_state[SHELL_KEY] = True
        _rerun_without_legacy_mpa()
    # Later runs only switch the flag: a rerun would drop a button's click. (AppTest sets the flag back before
    # every run; a server only once, at its start.)
    PagesManager.uses_pages_directory = False
    st.session_state[SHELL_KEY] = True


def ensure_shell() -> None:
    """First statement of every page: rerun through app.py when v1 mode ran this page before the session had
    a shell (a direct link, the first request after a server start)."""
    # Only the session's marker counts: once app.py ran, a server never goes back to v1, while AppTest sets the
    # flag back before every run and would lose each button click to the rerun.
    if SHELL_KEY not in st.session_state:
        _rerun_without_legacy_mpa()


_load_locks: dict[ModelSpec, threading.Lock] = {}
_load_locks_guard = threading.Lock()


def page_objects(home) -> list:
    """The home page plus every page whose file exists, as `st.Page`s for `st.navigation`."""
    pages = [st.Page(home, title="Home", icon=":material/home:", default=True, url_path="home")]
    for file, title, icon in PAGES:
        path = ROOT / "pages" / file
        if path.exists():
            pages.append(st.Page(str(path), title=title, icon=icon))
    return pages


def show_error(err: WorkbenchError) -> None:
    """A user error, shown in the page (never a traceback)."""
    st.error(err.for_people(), icon=":material/error:")


def _logger() -> logging.Logger:
    """The workspace log (rotating, 1 MB x 3), opened once per process and workspace."""
    path = workspace.log_file()
    logger = logging.getLogger(f"workbench.app.{path}")
    if not logger.handlers:
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2**20, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def show_unexpected(err: Exception, where: str) -> None:
    """An error the code did not foresee: one line in the page, the traceback in a details expander and in the
    workspace log. The rest of the page (and every other page) keeps working."""
    details = "".join(traceback.format_exception(err))
    try:
        _logger().error("%s: %s", where, details)
        logged = f" It was logged to {workspace.log_file()}."
    except OSError:
        logged = ""
    st.error(f"{where} failed unexpectedly: {type(err).__name__}: {str(err)[:300]}.{logged}",
             icon=":material/bug_report:")
    with st.expander("Details"):
        st.code(details, language="text")


@contextmanager
def guard(where: str) -> Iterator[None]:
    """Run a page or one action of a page so that no error reaches the browser as a traceback: a WorkbenchError
    is the user's message, anything else a short message with details. Streamlit's own st.stop/st.rerun
    (BaseException, not Exception) pass through."""
    try:
        yield
    except WorkbenchError as err:
        show_error(err)
    except Exception as err:  # noqa: BLE001 -- the last line of defence: shown, logged, never a traceback
        show_unexpected(err, where)


def store_notice() -> None:
    """Once per session: say so when a damaged workspace store was moved aside and a fresh one started."""
    if st.session_state.get("wb_store_notice_shown"):
        return
    st.session_state["wb_store_notice_shown"] = True
    with Store().connect() as conn:
        row = conn.execute("SELECT created, detail FROM events WHERE kind = 'store_moved_aside' "
                           "ORDER BY id DESC LIMIT 1").fetchone()
    if row is not None and time.time() - row["created"] < 7 * 86400:
        detail = json.loads(row["detail"])
        st.warning(f"The workspace store was damaged ({detail.get('reason', 'unreadable')}) and was moved aside to "
                   f"{detail.get('moved_to')}; a fresh store was started. Runs recorded before are in that copy.",
                   icon=":material/database:")


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


RISKS_ENV = "WORKBENCH_ALLOW_REMOTE_RISKS"  # "1": keep the risky loading options when served beyond loopback


def exposed() -> bool:
    """True when the server listens beyond this machine and the environment did not allow the risky options:
    with no login, whoever reaches the port could otherwise run code (remote code, pickle) or read server paths."""
    address = (st.get_option("server.address") or "").strip()  # empty: every interface
    on_loopback = address in ("localhost", "::1") or address.startswith("127.")
    return not on_loopback and os.environ.get(RISKS_ENV) != "1"


def _server_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or Path(name).expanduser().exists()


def sidebar_model() -> ModelSpec | None:
    """The model picker shared by all pages (rendered by app.py); remembers the choice in the session."""
    locked = exposed()
    names = list(models.EMBEDDED) + [OTHER]
    with st.sidebar:
        st.subheader("Model")
        choice = st.selectbox("Model", names, persist_state="session", key="wb_model_choice",
                              label_visibility="collapsed",
                              help="Embedded models work offline; pick Other for a Hugging Face id or a folder.")
        name = choice
        if choice == OTHER:
            name = st.text_input("Hugging Face id or local folder", persist_state="session", key="wb_model_custom",
                                 placeholder="HuggingFaceTB/SmolLM2-360M or /path/to/model").strip()
        device = st.radio("Device", models.DEVICES, horizontal=True, persist_state="session", key="wb_device")
        with st.expander("Loading options"):
            if locked:
                where = st.get_option("server.address") or "every interface"
                st.caption(f"This server listens beyond this machine ({where}), with no login: downloads, remote "
                           "code, pickle weights and model folders on the server are off. Set "
                           f"{RISKS_ENV}=1 to allow them.")
            allow_download = st.checkbox("Allow downloads from the hub", persist_state="session",
                                         key="wb_allow_download", disabled=locked)
            trust_remote_code = st.checkbox("Trust remote code", persist_state="session", key="wb_trust_remote_code",
                                            disabled=locked,
                                            help="Runs Python shipped with the checkpoint. Off by default.")
            allow_pickle = st.checkbox("Allow pickle (.bin) weights", persist_state="session", key="wb_allow_pickle",
                                       disabled=locked,
                                       help="Pickle files can run code when loaded; safetensors cannot.")
        if locked:
            allow_download = trust_remote_code = allow_pickle = False
            if choice == OTHER and name and _server_path(name):
                st.error(f"Loading a folder on the server is off while it listens beyond this machine "
                         f"(set {RISKS_ENV}=1 to allow it).", icon=":material/lock:")
                name = ""
    if not name:
        st.session_state["wb_spec"] = None
        return None
    try:
        spec = ModelSpec(name=name, device=device, allow_download=allow_download,
                         trust_remote_code=trust_remote_code, allow_pickle_weights=allow_pickle)
    except WorkbenchError as err:
        with st.sidebar:
            show_error(err)
        spec = None
    st.session_state["wb_spec"] = spec
    return spec


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


def remembered(key: str, default):
    """Seed a widget's value from a copy that outlives the page (Streamlit drops state of widgets not drawn).

    Use as `st.number_input(..., key=ui.remembered("k", 3))` with no value argument on the widget."""
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(f"keep_{key}", default)
    st.session_state[f"keep_{key}"] = st.session_state[key]
    return key


def fit_kept(key: str, low=None, high=None, *, options=None) -> str:
    """For a kept widget whose bounds or choices depend on the input (a token range, a layer of another model):
    bring the kept value back into [low, high] (both ends of a range too), or drop it when it is no longer among
    `options`, before the widget is drawn. Returns the key, to pass as `key=`."""
    if key not in st.session_state:
        return key
    value = st.session_state[key]
    if options is not None:
        if value not in list(options):
            del st.session_state[key]
        return key

    def clamp(v):
        return min(max(v, low), high)

    st.session_state[key] = tuple(clamp(v) for v in value) if isinstance(value, (tuple, list)) else clamp(value)
    return key


def adapter_picker(loaded: LoadedModel, key: str, *, label: str = "Adapter", multiple: bool = False,
                   help_text: str = "LoRA adapters registered for this model (Fine-tune page).",
                   ) -> AdapterInfo | None | list[AdapterInfo | None]:
    """The adapters registered for the loaded base, `adapters.BASE_CHOICE` (None) first; a list if `multiple`.

    The first time a session shows it, the adapter made active on the Fine-tune page is preselected (with the base
    beside it when `multiple`); after that the user's own choice is kept across pages. A kept choice naming an
    adapter deleted since is dropped."""
    registered = {a.name: a for a in adapters.list_adapters(loaded.info.name)}
    names = [adapters.BASE_CHOICE, *registered]
    active = adapters.active_adapter(loaded.info.name)
    first = active if active in registered else None
    if multiple:
        default = [adapters.BASE_CHOICE, *([first] if first else list(registered)[:1])]
    else:
        default = first or adapters.BASE_CHOICE
    keep = st.session_state.get(key, st.session_state.get(f"keep_{key}"))
    if keep is not None:
        keep = [n for n in keep if n in names] if multiple else (keep if keep in names else adapters.BASE_CHOICE)
        st.session_state[key] = keep
    key = remembered(key, default)
    if multiple:
        return [registered.get(n) for n in st.multiselect(label, names, persist_state="session", key=key,
                                                          help=help_text)]
    return registered.get(st.selectbox(label, names, persist_state="session", key=key, help=help_text))


def endpoint_form(prefix: str, title: str = "OpenAI-compatible endpoint (hosted or local server)",
                  ) -> EndpointSpec | None:
    """An OpenAI-compatible endpoint from an expander (None until a valid URL and model are given); the key stays
    in the environment variable named here. A bad value is shown in the expander: the rest of the page works."""
    with st.expander(title):
        c = st.columns(4)
        url = c[0].text_input("Base URL", persist_state="session", key=f"{prefix}_url",
                              placeholder="http://127.0.0.1:8000/v1")
        model = c[1].text_input("Model", persist_state="session", key=f"{prefix}_model")
        key_env = c[2].text_input("API key variable", persist_state="session", key=f"{prefix}_key",
                                  placeholder="OPENAI_API_KEY",
                                  help="The NAME of the environment variable holding the key; the key is never "
                                       "stored.") or None
        name = c[3].text_input("Label", persist_state="session", key=f"{prefix}_name")
        if not (url and model):
            return None
        try:
            return EndpointSpec(base_url=url, model=model, api_key_env=key_env, name=name)
        except WorkbenchError as err:
            show_error(err)
            return None


def human_bytes(n: float) -> str:
    """A byte count as the pages show it ("86.7 MB"); display only, the core never formats sizes this way."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def open_page(file: str, label: str, preset: dict, *, key: str, where=st, help_text: str | None = None) -> None:
    """A button that opens another page (a file under pages/) with some of its inputs set: the flows between
    pages (a finished fine-tune -> Evaluate, a Compare head -> Attention). `preset` maps the target page's widget
    keys to values; they are kept the way the page keeps its own inputs (see `remembered`)."""
    if where.button(label, key=key, icon=":material/arrow_forward:", help=help_text):
        for name, value in preset.items():
            st.session_state[name] = value
            st.session_state[f"keep_{name}"] = value
        st.switch_page(str(ROOT / "pages" / file))


def chart(fig, *, key: str, where=st, **kwargs):
    """A Plotly chart whose toolbar camera downloads an SVG (vector, for a paper), with a PNG download under it
    that is drawn only when clicked (kaleido with the system chromium). Returns the chart's selection event."""
    from workbench.results import figure_image

    config = {"toImageButtonOptions": {"format": "svg", "filename": key}, "displaylogo": False}
    event = where.plotly_chart(fig, key=key, config=config, **kwargs)
    where.download_button("PNG", lambda: figure_image(fig), f"{key}.png", "image/png", key=f"{key}_png",
                          icon=":material/download:", type="tertiary",
                          help="This chart as a PNG image (the toolbar's camera saves an SVG).")
    return event


def copy_as_code(snippet: Snippet) -> None:
    """"Copy as code": the snippet that reproduces this view with `import workbench as wb` (the block has a copy
    button), built by `workbench.snippets` from the page's current inputs."""
    with st.expander("Copy as code", icon=":material/code:"):
        st.code(snippet.code, language="python")


def notebook_download(make: Callable[[], bytes] | None, file_name: str, key: str, *, where=st,
                      unavailable: str = "Pick one record to export it as a notebook.") -> None:
    """"Export .ipynb": a stored record as a notebook that re-creates it (`workbench.notebook_export`); disabled,
    saying why, when nothing single is picked (`make` None) or the record cannot be re-run through the API."""
    data, why = b"", unavailable
    if make is not None:
        try:
            data, why = make(), None
        except WorkbenchError as err:
            why = str(err)
    where.download_button("Export .ipynb", data, file_name, "application/x-ipynb+json", key=key,
                          disabled=why is not None, icon=":material/download:",
                          help=why or "A runnable notebook (outputs empty) that re-creates this record with "
                                      "`import workbench as wb` and prints the result beside the stored one.")


def ask_delete(key: str, target) -> None:
    """First step of a delete: remember exactly what the click was about (`target`); `confirm_delete` asks next."""
    st.session_state[f"{key}_confirm"] = target
    st.rerun()


def confirm_delete(key: str, what: str, delete) -> None:
    """Second step of every delete, shown while one is asked: names exactly what goes, and on yes calls `delete()`
    (which moves it to the workspace trash and returns the `TrashItem`, or a list of them), then leaves a notice
    with an Undo."""
    st.warning(f"Delete {what}? It moves to the workspace trash, from where it can be restored.",
               icon=":material/delete:")
    c = st.columns([1, 1, 4])
    if c[0].button("Move to trash", key=f"{key}_yes", type="primary"):
        st.session_state.pop(f"{key}_confirm", None)
        moved = delete()
        st.session_state[f"{key}_moved"] = moved if isinstance(moved, list) else [moved]
        st.rerun()
    if c[1].button("Cancel", key=f"{key}_no"):
        st.session_state.pop(f"{key}_confirm", None)
        st.rerun()


def _labels(items: list) -> str:
    return ", ".join(i.label for i in items)


def trash_notice(key: str) -> None:
    """'Moved … to the trash' with an Undo, after a delete confirmed on this page."""
    restored = st.session_state.pop(f"{key}_restored", None)
    if restored:
        st.success(f"Restored {_labels(restored)}.", icon=":material/restore_from_trash:")
    items = [i for i in st.session_state.get(f"{key}_moved", []) if (trash.trash_dir() / i.id).is_dir()]
    if not items:  # none asked, or restored or emptied from the Trash list since
        st.session_state.pop(f"{key}_moved", None)
        return
    c = st.columns([5, 1])
    c[0].success(f"Moved {_labels(items)} to the trash.", icon=":material/delete:")
    if c[1].button("Undo", key=f"{key}_undo"):
        st.session_state.pop(f"{key}_moved")
        st.session_state[f"{key}_restored"] = [trash.restore(i) for i in items]
        st.rerun()


def stale_notice(made_with: dict, now: dict, *, where=st) -> None:
    """Under an output: which of the inputs on screen differ from those that made it (`workbench.stale`)."""
    if message := stale.stale_message(stale.changed_inputs(made_with, now)):
        where.warning(message, icon=":material/history:")


def kept_table(key: str, default):
    """Data and widget key for a `st.data_editor` whose edits outlive the page (data editors have no
    persist_state): a fresh editor starts from the last edited table (`keep_table`), or from one put there by
    `reset_table`. Use `data, widget = ui.kept_table("k", df)`, then `ui.keep_table("k", st.data_editor(data,
    key=widget))`."""
    widget = f"{key}_v{st.session_state.get(f'ver_{key}', 0)}"
    if widget not in st.session_state:  # first drawn in this visit of the page
        st.session_state[f"base_{key}"] = st.session_state.get(f"keep_{key}", default)
    return st.session_state[f"base_{key}"], widget


def keep_table(key: str, edited):
    """Remember a data editor's edited table (see `kept_table`); returns it."""
    st.session_state[f"keep_{key}"] = edited
    return edited


def reset_table(key: str, data) -> None:
    """Put `data` in a kept data editor: a new editor (fresh key) starts from it on the next run."""
    st.session_state[f"keep_{key}"] = data
    st.session_state[f"ver_{key}"] = st.session_state.get(f"ver_{key}", 0) + 1
