"""Where the studio's passing files live, and the one sweep that removes them by age.

Inside the data dir (private to this user, 0700 folders / 0600 files):
    cache/<name>/         re-creatable results (compressed narration clips), kept CACHE_MAX_AGE_S
Outside it, only what Gradio must serve (it refuses files from the data dir), all under the
private <tmp>/gieok-<uid>/ (0700):
    exports/<stamp>/                     downloads made for a visitor, kept EXPORT_MAX_AGE_S
Copies of an owner's pictures the browser loads live in the web server's own cache folder
(``serve_from``; <tmp>/gieok-<uid>/served until the app names it), so the server hands out those
very files and keeps no copy of its own that a delete could miss:
    <served>/<data dir>/<owner>/         kept SERVED_MAX_AGE_S after their last use and removed
                                         at once when the picture, its book or its owner is deleted

``sweep(now)`` removes cache entries, downloads, ``.tmp-*`` leftovers of killed media writes
and the studio's older temp folders once they are older than their age, so nothing of the
studio's outlives a day outside the data dir. The app runs it on a timer; tests pass a clock.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from typing import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from studio.media import MEDIA_REF, TEMP_PREFIX
from studio.owners import MEDIA_DIR, OWNERS_DIR, owner_key

log = logging.getLogger(__name__)

CACHE_MAX_AGE_S = 2 * 86400.0  # a kiosk runs for days: clips nobody played for this long go
EXPORT_MAX_AGE_S = 2 * 3600.0  # a download is fetched within minutes
TEMP_MAX_AGE_S = 12 * 3600.0  # working folders of exports (a long video may run for hours)
LEFTOVER_MAX_AGE_S = 3600.0  # a write in progress is never this old
ORPHAN_MAX_AGE_S = 6 * 3600.0  # an upload no book took up (the change that would have used it failed)
SERVED_MAX_AGE_S = 6 * 3600.0  # a picture copy nobody asked for this long is made again when asked
# Working folders in the temp dir (a killed process leaves its own behind), and what older versions
# left there (one gieok-pictures-/gieok-card- folder per process): swept like the rest.
TEMP_PREFIXES = ("gieok-exports-", "gieok-clip-cache", "gieok-audiobook-", "gieok-video-",
                 "gieok-estimate-", "gieok-piper-", "gieok-pictures-", "gieok-card-")

_data_dir: Path | None = None
_served_base: Path | None = None


def serve_from(folder: Path) -> None:
    """Served picture copies go into ``folder``/gieok-served-<uid> (the app passes the web server's
    cache folder: a file already inside it is served as is, not copied again)."""
    global _served_base
    _served_base = Path(folder) / f"gieok-served-{os.getuid()}"


def _served_dir() -> Path:
    return _served_base if _served_base is not None else _temp_base() / "served"


def use_data_dir(data_dir: Path) -> None:
    """Caches live under this data dir (``build_services`` sets it)."""
    global _data_dir
    _data_dir = Path(data_dir)


def private_dir(path: Path) -> Path:
    """A folder only this user can enter (made if needed, tightened if it exists)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def cache_dir(name: str) -> Path:
    """``<data dir>/cache/<name>``, private; a private temp folder when no data dir is set."""
    base = _data_dir if _data_dir is not None else temp_root()
    private_dir(base / "cache")
    return private_dir(base / "cache" / name)


def temp_root() -> Path:
    return private_dir(_temp_base())


def _temp_base() -> Path:
    """``temp_root`` without making it (for removing and sweeping)."""
    return Path(tempfile.gettempdir()) / f"gieok-{os.getuid()}"


def new_export_dir() -> Path:
    """A fresh private folder for one download; ``sweep`` removes it after EXPORT_MAX_AGE_S."""
    root = private_dir(temp_root() / "exports")
    return Path(tempfile.mkdtemp(prefix=f"{time.time_ns()}-", dir=root))


# -- copies the browser loads -----------------------------------------------------------------
def served_root() -> Path:
    if _served_base is None:
        temp_root()  # the private parent is made private too
    return private_dir(_served_dir())  # the web server's cache folder is made as needed


def _served_owner_folder(data_dir: Path, owner: str) -> Path:
    """Per data dir (two studios of one user never remove each other's copies) and per owner."""
    data_key = hashlib.sha256(str(Path(data_dir).resolve()).encode("utf-8")).hexdigest()[:16]
    return _served_dir() / data_key / owner_key(owner)


def served_picture(data_dir: Path, owner: str, ref: str, max_side: int | None = None) -> Path:
    """Where the browser's copy of one of ``owner``'s pictures lives (the caller writes it when it
    is missing). An existing copy is marked as used now, so the age sweep leaves it alone."""
    if not MEDIA_REF.fullmatch(ref or ""):
        raise ValueError(f"not a media ref: {ref!r}")
    folder = _served_owner_folder(data_dir, owner)
    stem = _served_stem(owner, ref)
    path = folder / (f"{stem}-{max_side}.png" if max_side else f"{stem}.png")
    if path.exists():  # the usual case (a gallery asks for every page): no folders to make
        _mark_used(path)
        return path
    served_root()
    private_dir(folder.parent)
    private_dir(folder)
    return path


def publish(path: Path, write: Callable[[Path], object]) -> Path:
    """Write a served file whole: ``write`` fills a partial file of this thread's own, which then
    replaces ``path`` at once (a browser never reads half a picture; two first askers never mix)."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def served_shared(name: str) -> Path:
    """A served file that belongs to no visitor (the paper card of a book without pictures)."""
    path = served_root() / name
    _mark_used(path)
    return path


def forget_served(data_dir: Path, owner: str, refs: Iterable[str] | None = None) -> None:
    """Remove the browser copies of these pictures of ``owner`` now; all of them when ``refs``
    is None (the owner was deleted, forgotten or expired)."""
    folder = _served_owner_folder(data_dir, owner)
    if refs is None:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for ref in refs:
        if not MEDIA_REF.fullmatch(ref or ""):
            continue
        stem = _served_stem(owner, ref)  # <stem>.png, <stem>-<side>.png and half-written <stem>.<n>.part
        for path in [*folder.glob(f"{stem}.*"), *folder.glob(f"{stem}-*")]:
            path.unlink(missing_ok=True)


def remove_upload_copy(path: str | Path, upload_root: Path | None) -> None:
    """Remove the web server's own copy of an upload the studio has taken (or a kiosk visitor left):
    the studio keeps what it needs in the owner's store, and a photo of her or a recording of her
    voice must not stay behind in the server's folder. Only ever a file under ``upload_root``."""
    if upload_root is None or not path:
        return
    root, path = Path(upload_root).resolve(), Path(path).resolve()
    if root not in path.parents:
        return  # never anything else on the machine
    if path.parent.parent == root:
        # the server keeps each upload in a folder named by its content, and converts it there
        # (a recording to WAV): the whole folder is this upload
        shutil.rmtree(path.parent, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _served_stem(owner: str, ref: str) -> str:
    """The browser sees this name in the file's URL: never the storage ref itself."""
    return hashlib.sha256(f"{owner}\0{ref}".encode("utf-8")).hexdigest()[:32]


def _mark_used(path: Path) -> None:
    try:
        os.utime(path)
    except FileNotFoundError:
        pass


@dataclass
class SweepReport:
    removed: list[Path] = field(default_factory=list)
    orphan_media: int = 0  # owners' files that no book uses

    def __len__(self) -> int:
        return len(self.removed) + self.orphan_media


def sweep(now: float | None = None, data_dir: Path | None = None, store=None) -> SweepReport:
    """Remove every passing file older than its age. ``now`` is the clock (tests move it).
    With ``store``, also each owner's media files that no book of theirs uses."""
    now = time.time() if now is None else now
    data_dir = Path(data_dir) if data_dir is not None else (store.data_dir if store is not None else _data_dir)
    report = SweepReport()
    if store is not None:
        for info in store.owners():
            report.orphan_media += store.purge_unreferenced_media(info.owner, ORPHAN_MAX_AGE_S, now_s=now)
    if data_dir is not None:
        cache = data_dir / "cache"
        for folder in cache.iterdir() if cache.is_dir() else []:
            _remove_older(folder.iterdir() if folder.is_dir() else [], now - CACHE_MAX_AGE_S, report)
        owners = data_dir / OWNERS_DIR
        leftovers = [*owners.glob(f"*/{MEDIA_DIR}/{TEMP_PREFIX}*"), *owners.glob(f"*/{MEDIA_DIR}/*/{TEMP_PREFIX}*"),
                     *owners.glob("*/.*.tmp")]
        _remove_older(leftovers, now - LEFTOVER_MAX_AGE_S, report)
        # Training photos were once kept outside the owner's folder (training/<16 hex of the owner>/),
        # where deleting or forgetting a family did not reach them: nothing uses them any more.
        legacy = [p for p in (data_dir / "training").glob("*") if p.is_dir() and re.fullmatch(r"[0-9a-f]{16}", p.name)]
        _remove_older(legacy, float("inf"), report)
    root = _temp_base()
    exports = root / "exports"
    _remove_older(exports.iterdir() if exports.is_dir() else [], now - EXPORT_MAX_AGE_S, report)
    served = _served_dir()
    copies = [p for p in [*served.glob("*"), *served.glob("*/*/*")] if not p.is_dir()]
    _remove_older(copies, now - SERVED_MAX_AGE_S, report)
    # Emptied folders go on a later sweep (a folder's age is its last change); rmdir, never rmtree:
    # a picture written into one meanwhile stays.
    for folder in [*served.glob("*/*"), *served.glob("*")]:
        try:
            if _empty_dir(folder) and folder.lstat().st_mtime < now - SERVED_MAX_AGE_S:
                folder.rmdir()
                report.removed.append(folder)
        except OSError:  # not empty any more, or gone
            pass
    for folder in (root / "cache").iterdir() if (root / "cache").is_dir() else []:
        _remove_older(folder.iterdir() if folder.is_dir() else [], now - CACHE_MAX_AGE_S, report)
    older = [p for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith(TEMP_PREFIXES) and _mine(p)]
    _remove_older(older, now - TEMP_MAX_AGE_S, report)
    if report.removed:
        log.info("Swept %d passing files", len(report.removed))
    return report


def _remove_older(paths, cutoff: float, report: SweepReport) -> None:
    for path in paths:
        try:
            if _newest_mtime(path) >= cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            report.removed.append(path)
        except FileNotFoundError:  # removed meanwhile
            pass
        except OSError as exc:
            log.warning("Could not remove %s: %s", path, exc)


def _newest_mtime(path: Path) -> float:
    """A folder is as young as the newest thing in it (an export still being written)."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for sub, _, files in os.walk(path):
            for name in files:
                try:
                    newest = max(newest, os.lstat(os.path.join(sub, name)).st_mtime)
                except FileNotFoundError:
                    pass
    return newest


def _empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _mine(path: Path) -> bool:
    try:
        return path.lstat().st_uid == os.getuid()
    except OSError:
        return False


class Periodic:
    """``work()`` in a daemon thread every ``interval_s`` (the first time at once unless
    ``first_now`` is False). A failure is logged and tried again at the next tick: housekeeping
    must live all day. Server-side on purpose: a ``gr.Timer`` ticks only while a page is open."""

    def __init__(self, name: str, work: Callable[[], object], interval_s: float, first_now: bool = True) -> None:
        self.name, self.interval_s, self._work, self._first_now = name, interval_s, work, first_now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        if not self._first_now and self._stop.wait(self.interval_s):
            return
        while True:
            try:
                self._work()
            except Exception:  # noqa: BLE001 - tried again at the next tick
                log.exception("%s failed; trying again later", self.name)
            if self._stop.wait(self.interval_s):
                return
