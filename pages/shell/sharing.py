"""Inputs shared by the tabs of one browser: a second tab opens with the inputs the other tabs have now.

Each browser tab is its own Streamlit session. The server keeps, per browser, the latest value of every widget
drawn with `persist_state="session"` (the pages' kept inputs, found in their source), and a new session of that
browser starts from them. A browser is told by Streamlit's XSRF cookie, which all its tabs share and which a new
browser (or a new Playwright context) does not have. Tabs already open are not changed under the user; AppTest has
no cookie, so its sessions stay on their own."""

from __future__ import annotations

import ast
import copy
import re
import threading
from collections import OrderedDict
from functools import cache

import streamlit as st
from streamlit.web.server.starlette import starlette_app_utils

from pages.shell.navigation import ROOT

# Private Streamlit helper (web/server/starlette/starlette_app_utils.py): fail loudly on an upgrade that drops it.
assert hasattr(starlette_app_utils, "decode_xsrf_token_string"), "Streamlit changed; revisit pages/shell/sharing.py"

BROWSER_COOKIE = "_streamlit_xsrf"
SEEDED_KEY = "_lw_inputs_seeded"
MAX_BROWSERS = 16
PICKERS = ("adapter_picker",)  # helpers that draw a kept widget under the key given as their second argument

_by_browser: OrderedDict[str, dict] = OrderedDict()
_lock = threading.Lock()


def _key_of(node: ast.AST | None) -> str | None:
    """The key a `key=` argument names, as a regular expression: a string, an f-string (its {fields} match a name),
    or the first argument of `ui.fit_kept` / `ui.remembered`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(re.escape(part.value) if isinstance(part, ast.Constant) else "[a-z0-9_]+"
                       for part in node.values)
    if isinstance(node, ast.Call) and node.args and getattr(node.func, "attr", None) in ("fit_kept", "remembered"):
        return _key_of(node.args[0])
    return None


def _call_key(node: ast.Call) -> str | None:
    keywords = {k.arg: k.value for k in node.keywords}
    persist = keywords.get("persist_state")
    if isinstance(persist, ast.Constant) and persist.value == "session":
        return _key_of(keywords.get("key"))
    if getattr(node.func, "attr", None) in PICKERS and len(node.args) > 1:
        return _key_of(node.args[1])
    return None


@cache
def kept_keys() -> re.Pattern:
    """The keys of the widgets drawn with persist_state="session" in app.py and pages/, read from the source, as
    one pattern (buttons, uploaders, data editors and chart selections never have it)."""
    keys = set()
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and (key := _call_key(node)):
                keys.add(key)
    return re.compile("|".join(sorted(keys)))


def _plain(value) -> bool:
    """A value a widget can be seeded with: text, a number, a flag, or a list of them."""
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def _shareable(key: str, value) -> bool:
    # A key found only through an f-string could also be a button's ("bias_run_{probe}"): no flags for those
    exact = kept_keys().fullmatch(key) and not key.startswith(("keep_", "base_", "ver_", "_"))
    return bool(exact) and _plain(value) and not (isinstance(value, bool) and not _literal_key(key))


@cache
def _literal_key(key: str) -> bool:
    return any(p == re.escape(key) for p in kept_keys().pattern.split("|"))


def _browser() -> str | None:
    """This session's browser: the token inside the XSRF cookie (its mask changes with every page load)."""
    raw = st.context.cookies.get(BROWSER_COOKIE)
    token, _ = starlette_app_utils.decode_xsrf_token_string(raw) if raw else (None, None)
    return token.hex() if token else None


def share_inputs() -> None:
    """First thing in app.py on every run: a new session starts from its browser's latest kept inputs; every run
    then leaves its own kept inputs there for the browser's next tab."""
    browser = _browser()
    if browser is None:
        return
    state = st.session_state
    with _lock:
        shared = _by_browser.setdefault(browser, {})
        _by_browser.move_to_end(browser)
        while len(_by_browser) > MAX_BROWSERS:
            _by_browser.popitem(last=False)
        if SEEDED_KEY not in state:
            state[SEEDED_KEY] = True
            for key, value in shared.items():
                if key not in state:
                    state[key] = copy.deepcopy(value)
        shared.update({key: copy.deepcopy(value) for key, value in state.items() if _shareable(key, value)})
