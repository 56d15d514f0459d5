"""Result objects: inline HTML with plotly.js inlined (no network source), a text summary, tables, JSON, and
exports to HTML, SVG and PNG that are valid files."""

import json
import re
import struct
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from workbench import results
from workbench.errors import InvalidSetting

NAMES = ["attention", "attention_row", "contributions", "generate", "decoding_step", "grid", "evaluate",
         "compare_shift", "compare_attention", "bias"]
REMOTE_SOURCE = re.compile(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*['\"]?\s*(https?:)?//", re.I)


@pytest.fixture
def inline_always(monkeypatch):
    monkeypatch.setitem(results.INLINE_PLOTLYJS, "mode", "always")
    return results.INLINE_PLOTLYJS


@pytest.mark.parametrize("name", NAMES)
def test_html_repr_inlines_plotly_and_loads_nothing_remote(every_result, name, inline_always):
    assert inline_always["mode"] == "always"
    bundle = every_result[name]._repr_mimebundle_()
    html = bundle["text/html"]
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js itself is in the page
    assert not REMOTE_SOURCE.search(html)
    assert not re.search(r"@import\s+url\(\s*['\"]?https?:", html)
    assert bundle["text/plain"].startswith("<") and len(bundle["text/plain"]) < 400


def test_second_repr_in_once_mode_reuses_the_first_ones_plotly(every_result, monkeypatch):
    monkeypatch.setitem(results.INLINE_PLOTLYJS, "shown", False)
    first = every_result["attention"]._repr_mimebundle_()["text/html"]
    second = every_result["generate"]._repr_mimebundle_()["text/html"]
    assert len(first) > 1_000_000 > len(second)
    assert not REMOTE_SOURCE.search(second)


@pytest.mark.parametrize("name", NAMES)
def test_result_has_a_table_and_json(every_result, name):
    result = every_result[name]
    table = result.to_pandas()
    assert isinstance(table, pd.DataFrame) and len(table) > 0
    data = json.loads(result.to_json())
    assert data["type"] == type(result).__name__ and data["result"]


def test_unknown_view_names_the_views_there_are(every_result):
    with pytest.raises(InvalidSetting, match="statistics"):
        every_result["attention"].figure("nope")


def test_numbers_agree_between_views(every_result):
    a = every_result["attention"]
    assert a.figure("head").data[0].z[3][:4] == pytest.approx(a.core.head(1, 0)[3][:4], abs=1e-4)
    gen = every_result["generate"]
    assert gen.to_pandas()["token_id"].tolist() == gen.core.token_ids[:len(gen.to_pandas())]
    bias = every_result["bias"]
    assert set(bias.core) == {"base", "adapter", "changes"} and "before_after" in bias.views


def _png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("name", ["attention", "evaluate", "bias"])
def test_save_writes_valid_svg_png_html_and_json(every_result, name, tmp_path):
    result = every_result[name]
    svg = result.save(tmp_path / "figure.svg")
    assert ET.parse(svg).getroot().tag.endswith("svg")
    assert _png_size(result.save(tmp_path / "figure.png", width=640, height=480)) == (640, 480)
    assert _png_size(result.save(tmp_path / "big.png", width=300, height=200, scale=2)) == (600, 400)
    page = result.save(tmp_path / "figure.html").read_text()
    assert page.startswith("<html>") and not REMOTE_SOURCE.search(page)
    assert json.loads(result.save(tmp_path / "result.json").read_text())["summary"] == result.summary


def test_save_rejects_an_unknown_suffix(every_result, tmp_path):
    with pytest.raises(InvalidSetting, match=".svg"):
        every_result["generate"].save(tmp_path / "figure.pdf")


def test_the_pages_png_download_is_a_png_of_the_asked_size():
    import struct

    import plotly.graph_objects as go

    from workbench.results import figure_image

    fig = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]), layout={"height": 300})
    png = figure_image(fig, width=400, scale=2)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (800, 600)  # IHDR: width, height in pixels
