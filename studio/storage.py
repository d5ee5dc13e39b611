"""A crash-safe TinyDB storage: every write is temp file + fsync + os.replace + dir fsync.

Stock ``JSONStorage`` overwrites in place, so a process killed mid-write can leave half a file.
Here the old file stays whole until the new one is complete on disk. The previous good file is
kept as ``<name>.bak`` (a hard link, so it costs nothing) for recovery from outside damage.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

from studio.messages import Localized


class StoreError(Localized, RuntimeError):
    """Base for store failures; messages are written for the person using the studio."""


class StoreCorruptError(StoreError):
    pass


class StoreWriteError(StoreError):
    pass


class AtomicJSONStorage(Storage):
    def __init__(self, path: str | os.PathLike, **_: Any):
        self.path = Path(path)
        self.backup = self.path.with_name(self.path.name + ".bak")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cache: str | None = None  # last text known to be on disk (we hold the file lock)
        self._remove_stale_temp_files()

    def read(self) -> dict[str, Any] | None:
        if self._cache is None:
            if not self.path.exists():
                return None
            self._cache = self.path.read_text(encoding="utf-8")
            parse_or_raise(self._cache, self.path)
        return json.loads(self._cache) if self._cache else None

    def write(self, data: dict[str, Any]) -> None:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            self._link_backup()
            os.replace(tmp, self.path)
            fsync_dir(self.path.parent)
        except OSError as exc:
            _unlink_quietly(tmp)
            raise StoreWriteError("store.write_failed", reason=exc.strerror or str(exc)) from exc
        self._cache = text

    def _link_backup(self) -> None:
        if not self.path.exists():
            return
        tmp_link = self.backup.with_name(self.backup.name + ".new")
        _unlink_quietly(str(tmp_link))
        os.link(self.path, tmp_link)
        os.replace(tmp_link, self.backup)

    def close(self) -> None:
        pass

    def _remove_stale_temp_files(self) -> None:
        """Temp files left by a process killed mid-write (the caller holds the data dir lock)."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            _unlink_quietly(str(stale))


def parse_or_raise(text: str, path: Path) -> dict[str, Any] | None:
    if not text.strip():
        raise StoreCorruptError("store.library_empty", path=str(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreCorruptError("store.library_damaged", path=str(path), problem=exc.msg, line=exc.lineno) from exc
    except RecursionError:
        raise StoreCorruptError("store.library_damaged", path=str(path), problem="nested too deeply", line=0) from None
    if not isinstance(data, dict):
        raise StoreCorruptError("store.library_not_gieok", path=str(path))
    return data


def write_json_atomic(path: Path, obj: Any, **dumps_options: Any) -> None:
    """``obj`` as JSON at ``path``, whole or not at all: written beside it as ``<name>.tmp`` and
    renamed over it, so a reader never sees half a file. No fsync: for small working files
    (captions, indexes, progress) whose loss in a power cut costs a redo, not the family's book."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, **dumps_options), encoding="utf-8")
    tmp.replace(path)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
