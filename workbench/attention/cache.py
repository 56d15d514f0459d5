"""A small thread-safe LRU of attention captures, so a page can switch heads and views without rerunning the
model (one capture of a 2,048-token layer is 75 MB, so keep few)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from workbench.attention.capture import AttentionCapture


class CaptureCache:
    """The `max_items` most recently used captures by key; safe to share between threads (browser sessions)."""

    def __init__(self, max_items: int) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, got {max_items}")
        self.max_items = max_items
        self._items: OrderedDict[Hashable, AttentionCapture] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: Hashable) -> AttentionCapture | None:
        """The capture stored under `key` (now the most recently used), or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, capture: AttentionCapture) -> None:
        """Store a capture, dropping the least recently used ones beyond `max_items`."""
        with self._lock:
            self._items[key] = capture
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def get_or_capture(self, key: Hashable, run: Callable[[], AttentionCapture]) -> AttentionCapture:
        """The stored capture, else `run()`'s result, stored. The model runs outside the cache's lock: two
        threads missing the same key both capture, and the last one stays."""
        found = self.get(key)
        if found is not None:
            return found
        capture = run()
        self.put(key, capture)
        return capture
