"""Shared fixtures: offline hub, a throwaway workspace, the real embedded models loaded once per session, and a
real OpenAI-compatible server (`transformers serve`) on a free loopback port serving the embedded SmolLM2."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Set before anything imports transformers; subprocesses (streamlit run, job runners) inherit them.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
os.environ.setdefault("WORKBENCH_MODEL_CACHE", str(ROOT / ".cache" / "models"))  # conversion done once
os.environ["WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="workbench-test-home-")
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on two cores: one thread each, and the
    os.environ["OMP_NUM_THREADS"] = "1"    # servers and jobs they start inherit it (oversubscribed torch threads
    #                                        spin-wait and run many times slower)


@pytest.fixture(autouse=True)
def torch_threads_restored():
    """A test that trains in-process sets torch's thread count for the whole worker (`configure_cpu_threads`);
    put it back, so later tests compare against a kernel or server on the worker's own count."""
    import torch

    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def smollm2():
    from workbench.models import ModelSpec, load

    return load(ModelSpec("smollm2-135m-instruct", device="cpu"))


@pytest.fixture(scope="session")
def minilm():
    from workbench.models import ModelSpec, load

    return load(ModelSpec("minilm-l6", device="cpu"))


@pytest.fixture
def workspace_home(tmp_path, monkeypatch):
    """A fresh, empty workspace for one test."""
    home = tmp_path / "workspace"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def workspace_with_adapter(smollm2, tmp_path_factory):
    """A workspace holding one registered random adapter for SmolLM2 (`page-lora`), for the whole module."""
    import importlib.util

    # The helper lives in tests/evaluate/test_run.py; load it by path (tests/e2e has a namesake).
    helper = Path(__file__).parent / "evaluate" / "test_run.py"
    spec = importlib.util.spec_from_file_location("unit_test_evaluate", helper)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_HOME", str(tmp_path_factory.mktemp("adapter-home")))
        module.make_random_adapters(smollm2, ["page-lora"])
        yield os.environ["WORKBENCH_HOME"]


def pytest_collection_modifyitems(items):
    """Browser tests last: a failure in core tests shows first, and the session browser of tests/e2e must not be
    alive while notebook tests start their own Playwright (a second sync Playwright in one worker fails with
    "using Playwright Sync API inside the asyncio loop"; tried slowest-first, it broke 9 notebook render tests)."""
    items.sort(key=lambda item: "/e2e/" in str(item.fspath))


@pytest.fixture
def open_page():
    """Opens a page as a browser does: app.py (the shell) first, optionally another sidebar model, then the page
    (`None` stays on the home page). Returns the AppTest, already checked for exceptions."""
    from streamlit.testing.v1 import AppTest

    def _open(name: str | None = None, *, model: str | None = None) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
        if model is not None:
            at.selectbox(key="wb_model_choice").select(model).run()
        if name is not None:
            at.switch_page(f"pages/{name}.py").run()
        assert not at.exception, at.exception
        return at

    return _open


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def openai_server(smollm2):
    """(base URL, model name) of `transformers serve` running the embedded SmolLM2 on CPU in float32."""
    from workbench import workspace

    folder = workspace.model_cache() / "smollm2-135m-instruct"
    port = free_port()
    serve = Path(sys.executable).parent / "transformers"
    log = open(Path(os.environ["WORKBENCH_HOME"]) / f"serve-{port}.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([str(serve), "serve", str(folder), "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu", "--dtype", "float32"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"transformers serve did not start: {log.name}") from None
                time.sleep(0.5)
        yield f"{base}/v1", str(folder)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
