"""The Library through the running app: round trips, isolation between visitors, web surface."""
from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from ui_helpers import refused

ROOT = Path(__file__).resolve().parents[1]


def _choices(update):
    return {value: label for label, value in update["choices"]}


def test_create_list_rename_duplicate_export_import_delete(launch_app, client_for, tmp_path):
    url, services = launch_app()
    c = client_for(url)
    drop, thumbs, status, cleared, *_, dedication = c.predict("할머니의 감나무", "순자 할머니께", "ko", 6,
                                                              api_name="/create_book")
    assert dedication == ""  # not carried into the next book
    status = status["value"]  # the note beside the button, shown
    book_id = drop["value"]
    assert "할머니의 감나무" in status and cleared == "" and len(thumbs) == 1
    drop, _ = c.predict(api_name="/list_books")
    assert "할머니의 감나무" in _choices(drop)[book_id]

    drop, _, _ = c.predict(book_id, "감나무 아래에서", api_name="/rename_book")
    assert "감나무 아래에서" in _choices(drop)[book_id]
    drop, _, status = c.predict(book_id, api_name="/duplicate_book")
    copy_id = drop["value"]
    assert copy_id != book_id and "(사본)" in _choices(drop)[copy_id]

    update = c.predict(book_id, api_name="/export_book")  # an update holding a FileData dict
    archive = update["value"]
    assert archive["path"].endswith(".gieok.zip")
    archive_path = _download(archive, tmp_path / "book.zip")
    drop, _, status = c.predict(handle_file(str(archive_path)), api_name="/import_book")
    assert len(drop["choices"]) == 3 and "감나무 아래에서" in status

    drop = c.predict(copy_id, api_name="/delete_book")[0]
    assert copy_id not in _choices(drop) and len(drop["choices"]) == 2
    # Saved on disk: a new store on the same data dir (after a restart) sees the same books.
    titles = sorted(b.title for b in services.store.list("local"))
    assert titles == ["감나무 아래에서", "감나무 아래에서"]


def _download(filedata, target: Path) -> Path:
    with urllib.request.urlopen(filedata["url"], timeout=30) as resp:
        target.write_bytes(resp.read())
    return target


def test_visitors_cannot_see_or_touch_each_others_books(launch_app, client_for):
    url, services = launch_app(mode="public")
    alice, bob = client_for(url), client_for(url)
    drop, *_ = alice.predict("Alice's book", "", "en", 4, api_name="/create_book")
    alice_book = drop["value"]
    drop, _ = bob.predict(api_name="/list_books")
    assert drop["choices"] == []
    for api, args in [("/open_book", (alice_book,)), ("/rename_book", (alice_book, "Bob's now")),
                      ("/duplicate_book", (alice_book,)), ("/export_book", (alice_book,)),
                      ("/delete_book", (alice_book,))]:
        # Refused twice over: Gradio's per-session choices, then the store's owner check.
        try:
            said = refused(bob, *args, api_name=api)
        except AppError as exc:
            said = str(exc)
        assert "does not exist or is not yours" in said or "not in the list of choices" in said
    drop, _ = alice.predict(api_name="/list_books")
    assert [label for label, _ in drop["choices"]][0].startswith("Alice's book")
    assert services.store.list("local") == []  # public mode never falls back to a shared owner


def test_file_route_refuses_data_dir_and_traversal(launch_app):
    url, services = launch_app()
    services.store.create("local", "a book")
    db = services.store.db_path_for("local")
    assert db.exists()
    for path in [str(db), str(db.resolve()), "../../../../etc/passwd", "/etc/passwd",
                 str(services.settings.data_dir / ".browser-secret")]:
        status = _status(f"{url.rstrip('/')}/gradio_api/file={path}")
        assert status in (403, 404), (path, status)


def test_upload_over_the_limit_is_refused(launch_app, tmp_path):
    url, _ = launch_app(max_file_size_mb=1)
    big = b"0" * (2 * 1024 * 1024)
    boundary = "gieokboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.zip\"\r\n"
            f"Content-Type: application/zip\r\n\r\n").encode() + big + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{url.rstrip('/')}/gradio_api/upload", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 413


def test_hostile_archive_upload_gives_clear_message(launch_app, client_for, tmp_path):
    import zipfile

    url, services = launch_app()
    c = client_for(url)
    bad = tmp_path / "evil.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("book.json", "{}")
        zf.writestr("../../escape.txt", "x")
    assert "unexpected file" in refused(c, handle_file(str(bad)), api_name="/import_book")
    assert services.store.list("local") == []


def test_actions_without_a_chosen_book_say_so(launch_app, client_for):
    url, _ = launch_app()
    c = client_for(url)
    assert refused(c, None, api_name="/duplicate_book") == "Choose a book first."
    assert "title" in refused(c, "   ", "", "ko", 6, api_name="/create_book")


def test_studio_and_app_start_without_heavy_imports(tmp_path):
    code = (
        "import sys, os; sys.path.insert(0, %r)\n"
        "import studio, studio.services, studio.store, studio.backends.registry\n"
        "import app\n"
        "from studio.config import Settings\n"
        "svc = app.build_services(Settings(data_dir=%r))\n"
        "demo = app.build_app(svc)\n"
        "svc.backends.statuses()\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'TTS', 'peft') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    ) % (str(ROOT), str(tmp_path / "d"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "HEAVY []" in result.stdout


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_store_refuses_another_owners_book_even_if_the_ui_check_is_bypassed(launch_app):
    """The owner check does not depend on Gradio's dropdown validation."""
    from tabs.common import user_errors
    import gradio as gr

    _, services = launch_app(mode="public")
    book = services.store.create("anon:alice", "Alice's book")

    @user_errors
    def open_as(owner, book_id):
        return services.store.get(owner, book_id)

    with pytest.warns(UserWarning, match="does not exist or is not yours"):  # the toast, outside an event
        assert open_as("anon:bob", book.id) == gr.skip()  # nothing shown, nothing changed
