"""The package keeps the shape the README's Layout section promises: the core imports no Streamlit, no private
name crosses a module boundary, and every capability has the same files in the same places."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "workbench"
CAPABILITIES = ("attention", "prompt_lab", "finetune", "evaluate", "compare", "bias")


def python_files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*.py") if "artifacts" not in p.parts)


def imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) for every import in the file; name is None for `import module`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
    return found


def test_core_imports_no_streamlit():
    offenders = [f"{p.relative_to(ROOT)}: {module}" for p in python_files(CORE)
                 for module, _ in imports(p) if module.split(".")[0] == "streamlit"]
    assert offenders == [], "workbench/ is the core; Streamlit belongs in pages/"


def test_no_private_name_is_imported_across_modules():
    found = set()
    for path in python_files(CORE, ROOT / "pages", ROOT / "bench") + [ROOT / "app.py"]:
        for module, name in imports(path):
            if name and name.startswith("_") and not name.startswith("__") and module.startswith("workbench"):
                found.add((str(path.relative_to(ROOT)), module, name))
    assert found == set(), "make the name public, or move the code that needs it"


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_each_capability_has_the_same_shape(capability):
    package = CORE / capability
    assert (package / "__init__.py").exists(), f"workbench/{capability}/ is a package"
    assert (package / "figures.py").exists(), f"workbench/{capability}/figures.py turns its results into figures"
    assert (package / "cli.py").exists(), f"workbench/{capability}/cli.py registers its commands"
    assert (ROOT / "pages" / f"{capability}.py").exists(), f"pages/{capability}.py is its page"
    assert (ROOT / "tests" / capability).is_dir(), f"tests/{capability}/ holds its tests"


def test_figures_modules_do_no_io_and_load_no_models():
    for capability in CAPABILITIES:
        modules = {m.split(".")[0] for m, _ in imports(CORE / capability / "figures.py")}
        assert not modules & {"torch", "transformers", "peft", "sqlite3", "streamlit"}, capability


def test_readme_layout_section_names_every_top_level_folder_and_capability():
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for name in ["app.py", "pages/", "workbench/", "tests/", "data/", "bench/", "models/", *CAPABILITIES]:
        assert name in layout, f"README Layout section does not mention {name}"
    tracked = [p for p in ROOT.iterdir() if not p.name.startswith((".", "__")) and p.name not in ("data", "tests")]
    tracked += [p for p in (ROOT / "workbench").rglob("*.py") if p.stem not in ("__init__", "__main__")]
    missing = sorted(p.stem for p in tracked if p.stem not in layout and p.name not in layout)
    assert not missing, f"README Layout section does not name {missing}"
