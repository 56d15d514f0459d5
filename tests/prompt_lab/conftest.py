"""A real OpenAI-compatible server (`transformers serve`) on a free loopback port, serving the embedded SmolLM2
folder, and a tiny HTTP server that answers with errors."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http import HTTPStatus
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIServer, make_server

import pytest


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


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request, so a slow answer does not hold the others."""


def _answers(hits: dict):
    """A WSGI app: POST /<status>/v1/... answers that status; /malformed a 200 without choices; /slow waits 3 s."""
    def app(environ, start_response):
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        kind = environ["PATH_INFO"].split("/")[1]
        hits[kind] = hits.get(kind, 0) + 1
        if kind == "slow":
            time.sleep(3)
        status = int(kind) if kind.isdigit() else 200
        body = json.dumps({"error": {"message": f"answering {status}"}} if status != 200 else {"nothing": 1})
        start_response(f"{status} {HTTPStatus(status).phrase}", [
            ("content-type", "application/json"), ("retry-after-ms", "10"), ("content-length", str(len(body)))])
        return [body.encode()]
    return app


@pytest.fixture(scope="session")
def error_server():
    """(base URL, request counts by kind) of a tiny HTTP server; put 401, 429, malformed or slow first in the path."""
    hits: dict = {}
    server = make_server("127.0.0.1", free_port(), _answers(hits), server_class=_ThreadingWSGIServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()
    server.server_close()
