"""Passing files leave by age, caches are private and inside the data dir, and deleting a
photo, a character, a page or a book deletes its files at once (unless the owner still uses them)."""
from __future__ import annotations

import os
import tempfile
import time

import pytest

from studio import lifecycle, story
from studio.book import Character, ImageVariant, Page
from studio.export import av

DAY = 86400.0


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The system temp dir, for this test alone (a sweep with a clock a day ahead must not touch
    other programs' files)."""
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setattr(lifecycle, "_served_base", None)  # an app started earlier named its own cache
    return folder


def _age(path, seconds):
    when = time.time() - seconds
    os.utime(path, (when, when))


def test_caches_live_inside_the_data_dir_and_are_private(services, private_tmp):
    assert av._CLIP_CACHE is None  # the default: lifecycle decides
    clips = lifecycle.cache_dir("clips")
    assert clips == services.settings.data_dir / "cache" / "clips"
    for folder in (clips, clips.parent):
        assert folder.stat().st_mode & 0o777 == 0o700
    export = lifecycle.new_export_dir()
    assert export.parent.stat().st_mode & 0o777 == 0o700 and export.parent.parent.stat().st_mode & 0o777 == 0o700
    assert str(export).startswith(str(private_tmp))  # Gradio may serve downloads only from a temp dir


def test_sweep_removes_every_passing_file_by_its_age_and_keeps_the_library(services, private_tmp):
    store = services.store
    book = store.create("fam", "감나무")
    media = store.media_for("fam")
    kept_ref = media.put_bytes(b"a photo that a book uses", "png")
    store.update("fam", book.id, lambda b: b.memories.photos.append(kept_ref))
    clip = lifecycle.cache_dir("clips") / "abc.m4a"
    clip.write_bytes(b"clip")
    leftover = media.root / kept_ref[:2] / ".tmp-killed-write"
    leftover.write_bytes(b"half a file")
    export = lifecycle.new_export_dir() / "book.gieok.zip"
    export.write_bytes(b"zip")
    legacy = [private_tmp / "gieok-exports-abc", private_tmp / "gieok-clip-cache", private_tmp / "gieok-video-x"]
    for folder in legacy:
        folder.mkdir()
        (folder / "file").write_bytes(b"x")
    unrelated = private_tmp / "someone-elses"
    unrelated.mkdir()
    orphan = media.put_bytes(b"an upload whose book change failed", "png")

    now = time.time()
    assert len(lifecycle.sweep(now)) == 0  # nothing is old yet
    removed = lifecycle.sweep(now + 1.5 * 3600)  # a killed write's leftover is never this young
    assert removed.removed == [leftover] and clip.exists() and export.exists()
    assert lifecycle.sweep(now + DAY + 60, store=store).orphan_media == 1
    assert not media.exists(orphan) and media.exists(kept_ref)
    assert clip.exists()  # caches keep two days, inside the data dir ...
    outside = [p for p in private_tmp.rglob("*") if p.is_file()]
    assert outside == []  # ... but nothing of the studio's outside the data dir survives a day
    assert unrelated.exists() and not any(p.exists() for p in legacy)
    lifecycle.sweep(now + 2 * DAY + 60)
    assert not clip.exists()
    assert media.read_bytes(kept_ref) == b"a photo that a book uses"  # the library itself is never swept
    assert store.get("fam", book.id).memories.photos == [kept_ref]


def test_a_folder_being_written_is_as_young_as_its_newest_file(services, private_tmp):
    folder = lifecycle.new_export_dir()
    _age(folder, 5 * 3600)
    (folder / "part.mp4").write_bytes(b"still encoding")
    assert folder.exists() and len(lifecycle.sweep()) == 0


def _photo(store, owner, data):
    return store.media_for(owner).put_bytes(data, "png")


def test_removing_a_photo_or_a_character_deletes_its_file_unless_still_used(store):
    book = store.create("fam", "감나무")
    shared, alone, face = (_photo(store, "fam", d) for d in (b"shared", b"alone", b"face"))
    other = store.create("fam", "another book", memories={"photos": [shared]})

    def fill(b):
        b.memories.photos = [shared, alone]
        b.characters = [Character(name="할머니", photos=[shared]), Character(name="할아버지", photos=[face])]

    store.update("fam", book.id, fill)
    media = store.media_for("fam")
    story.remove_photo(store, "fam", book.id, alone)
    assert not media.exists(alone)
    story.remove_photo(store, "fam", book.id, shared)
    assert media.exists(shared)  # the other book still shows it
    story.save_characters(store, "fam", book.id, [["할머니", "흰 머리"]])  # grandfather removed
    assert not media.exists(face)
    store.delete("fam", other.id)
    assert not media.exists(shared) and media.refs() == []


def test_deleting_a_page_deletes_its_pictures_unless_still_used(store):
    media = store.media_for("fam")
    mine, reused = _photo(store, "fam", b"page one"), _photo(store, "fam", b"on two pages")
    pages = [Page(text="1", variants=[ImageVariant(image=mine), ImageVariant(image=reused)]),
             Page(text="2", variants=[ImageVariant(image=reused)])]
    book = store.create("fam", "책", pages=pages)
    story.delete_page(store, "fam", book.id, book.pages[0].id)
    assert not media.exists(mine) and media.exists(reused)


def test_sweep_removes_training_photos_left_outside_the_owners_folders(services, private_tmp):
    """Training photos were once kept at training/<16 hex>/ where forgetting a family did not reach
    them; the sweep removes those folders, whatever their age, and keeps the machine's speed table."""
    from studio import lifecycle

    old = services.settings.data_dir / "training" / "0123456789abcdef" / "book" / "person"
    old.mkdir(parents=True)
    (old / "000.png").write_bytes(b"a face")
    speed = services.settings.data_dir / "training" / "speed.json"
    speed.write_text("{}")
    lifecycle.sweep(data_dir=services.settings.data_dir)
    assert not old.parents[1].exists() and speed.is_file()


# -- the browser's copies of pictures ------------------------------------------------------------
def _png(color) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _served(services, owner, ref, side=None):
    from tabs.common import picture

    path = picture(services, owner, ref, side)
    assert path is not None
    return os.path.realpath(path)


def test_served_copies_are_private_per_owner_and_leave_with_the_book(services, private_tmp):
    store = services.store
    shared, alone = (_photo(store, "fam", _png(c)) for c in ("red", "blue"))
    book = store.create("fam", "감나무", memories={"photos": [shared, alone]}, cover_image=alone)
    keeper = store.create("fam", "another book", memories={"photos": [shared]})
    copies = [_served(services, "fam", ref, side) for ref in (shared, alone) for side in (None, 256)]
    root = os.path.realpath(private_tmp / f"gieok-{os.getuid()}" / "served")
    data_dir = os.path.realpath(services.settings.data_dir)
    for copy in copies:
        assert copy.startswith(root + os.sep) and not copy.startswith(data_dir)  # Gradio may serve it
        assert os.stat(os.path.dirname(copy)).st_mode & 0o777 == 0o700
        assert os.stat(copy).st_size > 0
        assert shared[:64] not in copy and alone[:64] not in copy  # its URL never names a storage ref
    other = _served(services, "stranger", _photo(store, "stranger", _png("red")))
    assert os.path.dirname(other) != os.path.dirname(copies[0])  # one folder per owner

    store.delete("fam", book.id)
    assert [os.path.exists(c) for c in copies] == [True, True, False, False]  # the other book shows `shared`
    store.delete("fam", keeper.id)
    assert not any(os.path.exists(c) for c in copies) and os.path.exists(other)


def test_forgetting_or_expiring_an_owner_removes_their_served_copies(services, private_tmp):
    from studio import visitors

    store = services.store
    mine = _served(services, "anon:old", _photo(store, "anon:old", _png("red")))
    kiosk = _served(services, "kiosk:visitor", _photo(store, "kiosk:visitor", _png("red")))
    assert store.delete_owner("kiosk:visitor")  # what the kiosk's "new visitor" and idle reaper do
    assert not os.path.exists(os.path.dirname(kiosk)) and os.path.exists(mine)
    later = time.time() + 25 * 3600
    assert visitors.purge_expired(store, visitors.ExpiryPolicy(24.0), now=lambda: later) == ["anon:old"]
    assert not os.path.exists(os.path.dirname(mine))


def test_unused_served_copies_and_old_per_process_folders_go_within_a_day(services, private_tmp):
    from tabs import library

    store = services.store
    ref = _photo(store, "fam", _png("green"))
    store.create("fam", "책", memories={"photos": [ref]})
    copy = _served(services, "fam", ref, 256)
    card = library._paper_card()
    legacy = [private_tmp / "gieok-pictures-x1y2", private_tmp / "gieok-card-z3"]  # older versions' leftovers
    for folder in legacy:
        folder.mkdir()
        (folder / "a.png").write_bytes(b"x")
    now = time.time()
    lifecycle.sweep(now + 60)
    assert os.path.exists(copy) and os.path.exists(card) and all(p.exists() for p in legacy)
    _age(copy, 5 * 3600)
    assert _served(services, "fam", ref, 256) == copy  # used again: young again, the same file
    lifecycle.sweep(now + 60)
    assert os.path.exists(copy)
    lifecycle.sweep(now + DAY)
    served = private_tmp / f"gieok-{os.getuid()}" / "served"
    assert [p for p in private_tmp.rglob("*") if p.is_file()] == []
    assert list(served.iterdir()) == []  # emptied owner folders go too
    assert library._paper_card() == card and os.path.getsize(card) > 0  # made again when asked
    assert store.media_for("fam").exists(ref)  # the picture itself stays in the library


def test_every_temp_folder_the_studio_makes_is_one_the_sweep_knows():
    """A killed process leaves its TemporaryDirectory behind: each prefix must be swept by age."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    made = {m for path in [*root.glob("studio/**/*.py"), *root.glob("tabs/**/*.py"), root / "app.py"]
            for m in re.findall(r"""prefix=f?["'](gieok-[^"'{]*)""", path.read_text(encoding="utf-8"))}
    assert made, "the scan found no temp folders at all"
    assert [p for p in sorted(made) if not p.startswith(lifecycle.TEMP_PREFIXES)] == []
