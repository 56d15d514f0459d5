"""bertviz's head view and model view as self-contained HTML: only the picked layers, size checked first,
and require.js, d3 and jQuery inlined from workbench/static/vendor/ (bertviz loads them from a CDN)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch

from workbench.attention.capture import AttentionCapture
from workbench.errors import InvalidSetting

VENDOR = Path(__file__).resolve().parents[1] / "static" / "vendor"  # workbench/static/vendor
VENDOR_FILES = {"require": "require.js", "d3": "d3.min.js", "jquery": "jquery.min.js"}
MAX_HTML_BYTES = 10 * 1024 * 1024   # above this a browser tab stalls; our own views handle bigger inputs
BYTES_PER_WEIGHT = 28               # bertviz writes each weight as JSON text (measured: 123 MB for 4.4 M weights)
REQUIRE_TAG = re.compile(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[^"]+"></script>')
REQUIRE_CONFIG = re.compile(r"require\.config\(\{\s*paths:\s*\{[^}]*\}\s*\}\);", re.S)


class BertvizTooLarge(InvalidSetting):
    """The embedded bertviz page would be too big for a browser tab."""


class AssetsMissing(InvalidSetting):
    """The front-end files bertviz needs have not been installed."""


def estimated_html_bytes(n_layers: int, n_heads: int, n_tokens: int, views: int = 1) -> int:
    """Approximate HTML size bertviz writes for these shapes (every weight as text)."""
    return views * n_layers * n_heads * n_tokens * n_tokens * BYTES_PER_WEIGHT + 60_000


def check_size(n_layers: int, n_heads: int, n_tokens: int, views: int = 1) -> int:
    """The estimated size, or BertvizTooLarge naming what to shrink."""
    size = estimated_html_bytes(n_layers, n_heads, n_tokens, views)
    if size > MAX_HTML_BYTES:
        raise BertvizTooLarge(
            f"bertviz would write about {size / 2**20:.0f} MB of HTML for {n_layers} layer(s) x {n_heads} heads "
            f"x {n_tokens} tokens (limit {MAX_HTML_BYTES / 2**20:.0f} MB): pick fewer layers or a shorter text, "
            "or use the One head / All heads / Token focus views, which handle long inputs", field="layers")
    return size


def vendor_scripts() -> str:
    """d3 and jQuery as globals, then require.js, then AMD names bertviz asks for bound to those globals."""
    missing = [name for name in VENDOR_FILES.values() if not (VENDOR / name).is_file()]
    if missing:
        raise AssetsMissing(f"missing {', '.join(missing)} in {VENDOR}: run `bash scripts/setup_assets.sh` "
                            "(or `make setup`) once", path=str(VENDOR))
    read = {key: (VENDOR / name).read_text(encoding="utf-8") for key, name in VENDOR_FILES.items()}
    # Loaded before require.js so their UMD wrappers set window.d3 / window.jQuery instead of calling define().
    return ("<script>" + read["d3"] + "</script>\n<script>" + read["jquery"] + "</script>\n<script>"
            + read["require"] + "</script>\n<script>define('d3', [], function () { return window.d3; });"
            "define('jquery', [], function () { return window.jQuery; });</script>\n")


def offline_html(html: str) -> str:
    """bertviz HTML with the CDN script and require paths replaced by the inlined vendor files."""
    html, found = REQUIRE_TAG.subn("", html)
    html = REQUIRE_CONFIG.sub("", html)
    return vendor_scripts() + html


class _PickedLayers(Sequence):
    """Looks like every layer's (1, H, T, T) tensor to bertviz but holds only the picked ones."""

    def __init__(self, capture: AttentionCapture) -> None:
        self.n = capture.n_layers
        self.maps = {layer: torch.from_numpy(capture.pattern[i].astype("float32"))[None]
                     for i, layer in enumerate(capture.layers)}
        self.first = self.maps[capture.layers[0]]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.n))]
        return self.maps.get(index, self.first)


def bertviz_html(capture: AttentionCapture, view: str = "head") -> str:
    """bertviz `head_view` or `model_view` of the captured layers, offline, after the size check."""
    from bertviz import head_view, model_view

    if view not in ("head", "model"):
        raise InvalidSetting(f"`view` must be head or model, got {view!r}", field="view")
    check_size(len(capture.layers), capture.n_heads, capture.n_tokens)
    attention = _PickedLayers(capture)
    tokens = list(capture.tokens)
    if view == "head":
        out = head_view(attention, tokens, include_layers=list(capture.layers), html_action="return")
    else:
        out = model_view(attention, tokens, include_layers=list(capture.layers), html_action="return")
    return offline_html(out.data)
