"""A tiny HTTP server that answers with errors (the real `transformers serve` fixture, `openai_server`, is in
tests/conftest.py: Evaluate uses it too)."""

import json
import threading
import time
from http import HTTPStatus
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIServer, make_server

import pytest

from tests.conftest import free_port


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
