"""Every tutorial in notebooks/ runs top to bottom in the project's kernel, offline; the notebooks assert their
own key numbers, so a wrong number fails the cell."""

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_tutorials_for_attention_and_decoding():
    assert {"attention.ipynb", "decoding.ipynb"} <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_offline(path, kernel_name):
    book = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(book, kernel_name=kernel_name, timeout=300,
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    seconds = time.perf_counter() - start
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    html = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if "text/html" in o.get("data", {})]
    assert html, "no result drew itself"
    assert seconds < 180, f"{path.name} took {seconds:.0f} s (the budget is 3 minutes on 2 cores)"
