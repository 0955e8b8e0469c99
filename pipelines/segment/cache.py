"""The image-embedding cache every SAM-like segmenter keeps: a thread-safe LRU keyed by image content."""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable, NamedTuple

from ..errors import UserError


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    size: int
    capacity: int


class EmbeddingCache:
    """A thread-safe LRU of image embeddings keyed by content (image_key), shared by the SAM segmenters.

    ``get(key, compute)`` returns the cached embedding or computes it once: a thread asking for an embedding that
    another thread is computing waits for that one instead of computing it again. Nothing is kept of a failed
    compute (the waiters then try themselves)."""

    def __init__(self, size: int):
        if int(size) < 1:
            raise UserError("cache_size must be at least 1")
        self.size = int(size)
        self._cond = threading.Condition()
        self._items: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._pending: set[str] = set()
        self._hits = 0
        self._misses = 0

    def info(self) -> CacheInfo:
        with self._cond:
            return CacheInfo(self._hits, self._misses, len(self._items), self.size)

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        with self._cond:
            while True:
                item = self._items.get(key)
                if item is not None:
                    self._items.move_to_end(key)
                    self._hits += 1
                    return item
                if key not in self._pending:
                    self._pending.add(key)
                    self._misses += 1
                    break
                self._cond.wait()  # another thread is computing this very embedding
        try:
            item = compute()
        except BaseException:
            with self._cond:
                self._pending.discard(key)
                self._cond.notify_all()
            raise
        with self._cond:
            self._pending.discard(key)
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            self._cond.notify_all()
        return item
