"""Home page under Streamlit's AppTest: the model card renders; a bad model id is an error, not a crash."""

import ast
from pathlib import Path

import pages as ui

ROOT = Path(__file__).resolve().parents[2]


def test_home_page_renders_model_card_for_default_model(open_page):
    at = open_page()
    assert any("Model card: smollm2-135m-instruct" in s.value for s in at.subheader)
    labels = {m.label: m.value for m in at.metric}
    assert labels["Layers"] == "30"
    assert labels["Heads (key/value)"] == "9 (3)"


def test_bad_model_id_shows_error_not_exception(open_page):
    at = open_page()
    at.selectbox(key="wb_model_choice").select(ui.OTHER).run()
    at.text_input(key="wb_model_custom").input("no-such-owner/no-such-model").run()
    assert not at.exception
    assert any("huggingface-cli download" in e.value for e in at.error)


def test_encoder_model_card_renders(open_page):
    at = open_page(model="minilm-l6")
    assert any("Model card: minilm-l6" in s.value for s in at.subheader)
    assert {m.label: m.value for m in at.metric}["Heads (key/value)"] == "12 (12)"


def _first_statement_after_imports(path: Path) -> str:
    body = ast.parse(path.read_text()).body
    code = [n for n in body if not isinstance(n, ast.Import | ast.ImportFrom)
            and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    return ast.unparse(code[0])


def test_every_listed_page_exists_and_starts_with_the_shell_guard():

    files = sorted(p.name for p in (ROOT / "pages").glob("*.py") if p.name != "__init__.py")
    assert sorted(file for file, _, _ in ui.PAGES) == files
    for file in files:
        assert _first_statement_after_imports(ROOT / "pages" / file) == "ui.ensure_shell()", file
    assert _first_statement_after_imports(ROOT / "app.py") == "ui.leave_legacy_mpa()"


def test_byte_counts_read_in_the_largest_unit_below_1024():
    assert [ui.human_bytes(n) for n in (0, 1023, 1536, 90_905_000, 3 * 2**40)] == [
        "0 B", "1023 B", "1.5 KB", "86.7 MB", "3.0 TB"]
