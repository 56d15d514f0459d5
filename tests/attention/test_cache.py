"""The capture cache a page shares between sessions: least recently used out first, a hit never reruns the
capture, and threads can use it at once."""

import threading

import pytest

from workbench.attention.cache import CaptureCache


def test_the_least_recently_used_capture_goes_first():
    cache = CaptureCache(2)
    cache.put("a", "capture a")
    cache.put("b", "capture b")
    assert cache.get("a") == "capture a"  # a is now the most recent
    cache.put("c", "capture c")
    assert cache.get("b") is None and cache.get("a") == "capture a" and cache.get("c") == "capture c"
    assert len(cache) == 2


def test_a_hit_does_not_run_the_capture_again():
    cache = CaptureCache(3)
    runs = []
    first = cache.get_or_capture(("model", "text", (0,)), lambda: runs.append(1) or object())
    again = cache.get_or_capture(("model", "text", (0,)), lambda: runs.append(1) or object())
    assert first is again and runs == [1]


def test_threads_share_one_cache_without_losing_its_bound():
    cache = CaptureCache(4)

    def work(offset: int) -> None:
        for i in range(200):
            cache.get_or_capture((offset + i) % 7, lambda i=i: f"capture {i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 4


def test_a_cache_must_hold_at_least_one_capture():
    with pytest.raises(ValueError, match="at least 1"):
        CaptureCache(0)
