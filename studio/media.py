"""Content-addressed media files (photos, audio, model files) under the data dir.

A *ref* is ``<sha256>.<ext>``: it is both the file's name and its identity, so the same photo
uploaded twice is stored once, and a ref can never name a path outside the media dir.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from studio.messages import Localized

MEDIA_REF = re.compile(r"[0-9a-f]{64}\.[a-z0-9]{1,8}")
_EXT = re.compile(r"[a-z0-9]{1,8}")


class MediaError(Localized, ValueError):
    """A media ref or file that cannot be used; the message is safe to show a user."""


class MediaStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, ref: str) -> Path:
        if not MEDIA_REF.fullmatch(ref or ""):
            raise MediaError(f"Not a media reference: {ref!r}")
        return self.root / ref[:2] / ref

    def exists(self, ref: str) -> bool:
        try:
            return self.path(ref).is_file()
        except MediaError:
            return False

    def put_bytes(self, data: bytes, ext: str) -> str:
        ref = f"{hashlib.sha256(data).hexdigest()}.{_clean_ext(ext)}"
        target = self.path(ref)
        if not target.exists():
            self._write_atomic(target, lambda fh: fh.write(data))
        return ref

    def put_file(self, source: str | os.PathLike, ext: str | None = None) -> str:
        source = Path(source)
        ext = ext or source.suffix.lstrip(".") or "bin"
        digest = hashlib.sha256()
        with open(source, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        ref = f"{digest.hexdigest()}.{_clean_ext(ext)}"
        target = self.path(ref)
        if not target.exists():
            with open(source, "rb") as src:
                self._write_atomic(target, lambda fh: shutil.copyfileobj(src, fh, 1 << 20))
        return ref

    def read_bytes(self, ref: str) -> bytes:
        return self.path(ref).read_bytes()

    def delete(self, ref: str) -> bool:
        """Remove one file; True if it was there. Callers check first that nothing uses it
        (``BookStore.delete_media_if_unreferenced``)."""
        path = self.path(ref)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def _write_atomic(self, target: Path, write) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            _unlink_quietly(tmp)
            raise


def _clean_ext(ext: str) -> str:
    ext = (ext or "").lower().lstrip(".")
    if not _EXT.fullmatch(ext):
        raise MediaError(f"Unsupported file extension: {ext!r}")
    return ext


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
