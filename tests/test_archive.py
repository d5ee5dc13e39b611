"""Book archives round-trip, and hostile archives are refused with nothing written outside."""
from __future__ import annotations

import io
import json
import stat
import zipfile

import pytest

from studio.book import ImageVariant, Page
from studio.export.archive import ArchiveError, export_archive, import_archive


def _book_with_media(store):
    ref = store.media_for("fam").put_bytes(b"\x89PNG fake image bytes", "png")
    page = Page(text="감나무 아래에서", variants=[ImageVariant(image=ref)])
    page.chosen_variant = page.variants[0].id
    return store.create("fam", "할머니의 감나무", pages=[page]), ref


def test_export_then_import_round_trips_book_and_media(store, tmp_path):
    book, ref = _book_with_media(store)
    path = export_archive(store, "fam", book.id, tmp_path / "out")
    assert path.name.endswith(".gieok.zip") and "할머니의" in path.name
    store.media_for("fam").path(ref).unlink()  # imported media must come from the archive
    imported = import_archive(store, "other-family", path)
    assert imported.id != book.id and imported.owner == "other-family"
    assert imported.pages[0].text == "감나무 아래에서"
    assert store.media_for("other-family").read_bytes(imported.pages[0].chosen_image().image) == b"\x89PNG fake image bytes"


def _zip(tmp_path, entries, name="hostile.zip"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for entry in entries:
            if isinstance(entry, zipfile.ZipInfo):
                zf.writestr(entry, b"target")
            else:
                zf.writestr(*entry)
    return path


MANIFEST = json.dumps({"format": "gieok-book", "book": {"title": "x"}})


@pytest.mark.parametrize("entries, message", [
    ([("book.json", MANIFEST), ("../../evil.txt", "pwned")], "unexpected file"),
    ([("book.json", MANIFEST), ("/etc/evil.txt", "pwned")], "unexpected file"),
    ([("book.json", MANIFEST), ("media/../../evil.txt", "pwned")], "unexpected file"),
    ([("media/" + "a" * 64 + ".png", "x")], "no book.json"),
    ([("book.json", "{not json")], "damaged"),
    ([("book.json", json.dumps({"format": "other"}))], "not a Gieok book"),
])
def test_hostile_archives_are_refused(store, tmp_path, entries, message):
    path = _zip(tmp_path, entries)
    with pytest.raises(ArchiveError, match=message):
        import_archive(store, "fam", path)
    assert not (tmp_path.parent / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert store.list("fam") == []


def test_symlink_entry_is_refused(store, tmp_path):
    link = zipfile.ZipInfo("media/" + "b" * 64 + ".png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(ArchiveError, match="link"):
        import_archive(store, "fam", _zip(tmp_path, [("book.json", MANIFEST), link]))


def test_zip_bomb_is_refused_before_expanding(store, tmp_path):
    bomb = "media/" + "c" * 64 + ".bin"
    path = _zip(tmp_path, [("book.json", MANIFEST), (bomb, b"\0" * (50 * 1024 * 1024))])
    with pytest.raises(ArchiveError, match="zip bomb"):
        import_archive(store, "fam", path)


def test_too_many_entries_is_refused(store, tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("book.json", MANIFEST)
        for i in range(10_001):
            zf.writestr(f"media/{i:064x}.png", b"")
    with pytest.raises(ArchiveError, match="at most 10000"):
        import_archive(store, "fam", path)


def test_not_a_zip_and_checksum_mismatch(store, tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_text("hello")
    with pytest.raises(ArchiveError, match="not a Gieok book archive"):
        import_archive(store, "fam", fake)
    ref = "d" * 64 + ".png"
    manifest = json.dumps({"format": "gieok-book", "book": {"title": "x", "memories": {"photos": [ref]}}})
    with pytest.raises(ArchiveError, match="checksum"):
        import_archive(store, "fam", _zip(tmp_path, [("book.json", manifest), (f"media/{ref}", b"other")]))


def test_archive_with_missing_media_imports_and_forgets_dangling_refs(store, tmp_path):
    book, ref = _book_with_media(store)
    path = export_archive(store, "fam", book.id, tmp_path / "out")
    stripped = tmp_path / "stripped.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(stripped, "w") as dst:
        dst.writestr("book.json", src.read("book.json"))
    imported = import_archive(store, "fam", stripped)
    assert imported.pages[0].chosen_image() is None and imported.pages[0].text == "감나무 아래에서"


def test_archive_json_is_readable_text(store, tmp_path):
    book, _ = _book_with_media(store)
    with zipfile.ZipFile(export_archive(store, "fam", book.id, tmp_path)) as zf:
        data = json.load(io.BytesIO(zf.read("book.json")))
    assert data["book"]["title"] == "할머니의 감나무" and data["book"]["owner"] == ""
