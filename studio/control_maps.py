"""Control maps made once and kept by what they show.

A pose map depends only on the pose and the picture size; an edge or depth map on the owner's
photo, the kind of map and its size. Making one (rendering limbs, running a detector) and
compressing it to PNG cost more than the rest of a page's work on a remote engine, and the same
map is asked for again and again: every variant, every "make again", the map preview. The cache
keeps the picture with its PNG bytes (sent to the engine and stored as the page's map: encoded
once), keyed by content, so an edited pose is a new key and never a stale map. It is bounded in
bytes; entries made from a visitor's photo carry that owner in their key. Each caller gets its
own copy of the picture: nobody can change the cached one.
"""
from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

from studio.png_chunks import remember_png

MAX_BYTES = 64 * 1024 * 1024  # ~20 maps of 1024×1024 (pixels + PNG)


class MapCache:
    def __init__(self, max_bytes: int = MAX_BYTES):
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, tuple[Any, bytes, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.made = 0  # maps actually made (tests read it)

    def get(self, key: Hashable, make: Callable[[], Any]) -> tuple[Any, bytes]:
        """(a copy of the map for ``key``, its PNG bytes), made with ``make()`` the first time."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
        if found is None:
            image = make().convert("RGB")
            found = (image, encode(image), len(image.tobytes()))
            with self._lock:
                self.made += 1
                self._put(key, found)
        image, png, _ = found
        return remember_png(image.copy(), png), png

    def _put(self, key: Hashable, item: tuple[Any, bytes, int]) -> None:
        size = item[2] + len(item[1])
        if size > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[2] + len(old[1])
        self._items[key] = item
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, (_, png, raw) = self._items.popitem(last=False)
            self._bytes -= raw + len(png)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


def encode(image) -> bytes:
    """Light compression: a map is mostly flat colour, so level 1 is nearly as small and 4x faster."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def pose_key(pose: dict, width: int, height: int) -> tuple:
    return ("openpose", json.dumps(pose, sort_keys=True), int(width), int(height))


def photo_key(kind: str, owner: str, ref: str, width: int, height: int, maker: Hashable) -> tuple:
    return (kind, owner, ref, int(width), int(height), maker)


MAPS = MapCache()  # one per process: content keys make sharing safe
