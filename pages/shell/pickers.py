"""The shared pickers: the sidebar model (with the loading options locked when served beyond loopback), the
adapter picker, an OpenAI-compatible endpoint form."""

import os
from pathlib import Path

import streamlit as st

from pages.shell.errors import show_error
from pages.shell.state import remembered
from workbench import models
from workbench.errors import WorkbenchError
from workbench.models import LoadedModel, ModelSpec, adapters
from workbench.models.adapters import AdapterInfo
from workbench.models.endpoint import EndpointSpec

OTHER = "Other: Hugging Face id or folder…"

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
