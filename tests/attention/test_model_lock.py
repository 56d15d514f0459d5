"""Attention capture shares the model with a generation running in another thread: its hooks are added only
under the model lock, so neither fails and both give what they give alone."""

import threading

import numpy as np

from workbench.attention.capture import capture_attention
from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import stream_generation

TEXT = "The cat sat on the mat."
PROMPT = "Tell me a long story about a lighthouse."


def test_capture_while_another_thread_generates_changes_neither(smollm2):
    params = SamplingParams(max_new_tokens=24)
    alone_capture = capture_attention(smollm2, TEXT, [0, 5])
    alone_text = "".join(stream_generation(smollm2, PROMPT, params, chat=True))
    captured, errors = {}, []

    def capture() -> None:
        try:
            captured["result"] = capture_attention(smollm2, TEXT, [0, 5])
        except Exception as err:  # reported by the assertion below
            errors.append(err)

    stream = iter(stream_generation(smollm2, PROMPT, params, chat=True))
    pieces = [next(stream)]  # the generation now holds the model lock in its worker thread
    other = threading.Thread(target=capture)
    other.start()
    pieces += list(stream)
    other.join(timeout=120)
    assert errors == [] and not other.is_alive()
    assert "".join(pieces) == alone_text
    np.testing.assert_array_equal(captured["result"].pattern, alone_capture.pattern)
