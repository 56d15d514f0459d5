"""Fixtures for page tests (`open_page` itself is in tests/conftest.py): a workspace with a registered adapter."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def workspace_with_adapter(smollm2, tmp_path_factory):
    """A workspace holding one registered random adapter for SmolLM2, for the whole module."""
    import importlib.util

    # The helper lives in tests/evaluate/test_run.py; load it by path (tests/e2e has a namesake).
    helper = Path(__file__).parents[1] / "evaluate" / "test_run.py"
    spec = importlib.util.spec_from_file_location("unit_test_evaluate", helper)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    make_random_adapters = module.make_random_adapters

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_HOME", str(tmp_path_factory.mktemp("eval-page-home")))
        make_random_adapters(smollm2, ["page-lora"])
        yield os.environ["WORKBENCH_HOME"]
