"""A stream never holds the model lock in the reader's thread: closing it from another thread stops the
generation and leaves the lock free."""

import threading

from workbench.prompt_lab.decoding import SamplingParams
from workbench.prompt_lab.generation import stream_generation


def _free(lock) -> bool:
    """Whether a fresh thread can take the lock at once (it gives it back in the same thread)."""
    got = []

    def probe() -> None:
        got.append(lock.acquire(blocking=False))
        if got[0]:
            lock.release()

    checker = threading.Thread(target=probe)
    checker.start()
    checker.join()
    return got[0]


def test_a_stream_closed_from_another_thread_frees_the_lock(smollm2):
    stream = iter(stream_generation(smollm2, "Count from one to a hundred.", SamplingParams(400), chat=True))
    next(stream)  # running: the worker holds the lock
    assert not _free(smollm2.lock)
    errors = []

    def close() -> None:
        try:
            stream.close()
        except Exception as err:  # reported by the assertion below
            errors.append(err)

    closer = threading.Thread(target=close)
    closer.start()
    closer.join(timeout=60)
    assert errors == [] and not closer.is_alive()
    assert _free(smollm2.lock)
    assert [t for t in threading.enumerate() if t.name == "workbench-generate"] == []
