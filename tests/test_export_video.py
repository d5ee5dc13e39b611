"""MP4 and audiobook: streams, lengths and chapters as ffprobe sees them."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from export_fixtures import make_book
from studio.config import Settings
from studio.export.audiobook import export_audiobook
from studio.export.common import DEFAULT_PAGE_S, ExportError, gather
from studio.export.video import CREDITS_S, caption_bands, caption_pages, export_video

pytestmark = pytest.mark.skipif(not shutil.which("ffprobe"), reason="ffprobe (Debian ffmpeg) is not installed")
SMALL = (320, 180)  # structure is what is tested here; the app test makes a full-size video


def probe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def narrated_book(services, durations):
    saved = make_book(services.store, pages=len(durations), durations=durations)
    return gather(saved, services.store.media_for(saved.owner), services.backends)


def test_mp4_streams_length_and_chapters(services, tmp_path):
    durations = [1.1, 0.7, 1.3, 0.9]
    progress = []
    path = export_video(narrated_book(services, durations), tmp_path / "out", burn_text=True,
                        settings=services.settings, size=SMALL, on_progress=progress.append)
    info = probe(path)
    kinds = {s["codec_type"]: s["codec_name"] for s in info["streams"] if s["codec_type"] in ("video", "audio")}
    assert kinds == {"video": "h264", "audio": "aac"}
    assert float(info["format"]["duration"]) == pytest.approx(sum(durations) + CREDITS_S, abs=0.2)
    chapters = info["chapters"]
    assert len(chapters) == len(durations) + 1  # the pages, then the credits
    assert [round(float(c["start_time"]), 2) for c in chapters] == [0.0, 1.1, 1.8, 3.1, 4.0]
    assert chapters[0]["tags"]["title"].startswith("1. 할머니는")
    assert chapters[-1]["tags"]["title"] == "이 책에 대하여"
    assert progress[-1].fraction == 1.0 and any(0 < p.fraction < 1 for p in progress)


def test_silent_pages_get_the_default_time(services, tmp_path):
    durations = [0.8, None, 0.6, None]
    path = export_video(narrated_book(services, durations), tmp_path / "out", burn_text=False,
                        settings=services.settings, size=SMALL)
    info = probe(path)
    assert float(info["format"]["duration"]) == pytest.approx(1.4 + 2 * DEFAULT_PAGE_S + CREDITS_S, abs=0.2)
    assert len(info["chapters"]) == 5


def test_m4b_and_mp3_have_a_chapter_per_page(services, tmp_path):
    durations = [1.0, None, 0.5, 1.5]
    book = narrated_book(services, durations)
    for fmt, codec in [("m4b", "aac"), ("mp3", "mp3")]:
        path = export_audiobook(book, tmp_path / "out", fmt=fmt, settings=services.settings)
        assert path.suffix == f".{fmt}"
        info = probe(path)
        assert codec in [s["codec_name"] for s in info["streams"] if s["codec_type"] == "audio"]
        assert len(info["chapters"]) == 4
        assert float(info["format"]["duration"]) == pytest.approx(3.0 + DEFAULT_PAGE_S, abs=0.2)
        cover = [s for s in info["streams"] if s["codec_type"] == "video"]
        assert cover and cover[0]["disposition"]["attached_pic"] == 1


def test_ffmpeg_timeout_and_missing_binary_are_clear_errors(services, tmp_path):
    book = narrated_book(services, [1.0, 1.0, 1.0, 1.0])
    slow = Settings(data_dir=tmp_path / "d2", subprocess_timeout_s=0.05)
    with pytest.raises(ExportError, match="took longer than"):
        export_video(book, tmp_path / "out", settings=slow, size=SMALL)
    missing = Settings(data_dir=tmp_path / "d3", ffmpeg_binary=str(tmp_path / "no-ffmpeg"))
    with pytest.raises(ExportError, match="ffmpeg could not be started"):
        export_audiobook(book, tmp_path / "out", settings=missing)
    assert not list((tmp_path / "out").glob("*"))  # no half-written files left behind


def test_cancel_stops_the_encoder_quickly_and_leaves_nothing(services, tmp_path):
    import threading
    import time

    from studio.backends.base import CancelToken, Cancelled

    book = narrated_book(services, [6.0, 6.0, 6.0, 6.0])
    token = CancelToken()
    threading.Timer(0.8, token.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        export_video(book, tmp_path / "out", settings=services.settings, cancel=token)
    assert time.monotonic() - started < 6
    assert not list((tmp_path / "out").glob("*"))


def test_captions_show_the_whole_page_text_never_cut():
    text = " ".join(["할머니는 눈 내리는 밤마다 아이에게 옛날이야기를 들려주셨어요."] * 6) + " 끝까지 다 보여요."
    captions = caption_pages(text, 1050, 32)
    assert len(captions) >= 2 and all(1 <= len(c) <= 3 for c in captions)
    joined = " ".join(line for caption in captions for line in caption)
    assert "".join(joined.split()) == "".join(text.split())  # every word, in order
    assert "…" not in joined
    bands = caption_bands(text, (1280, 720))
    assert len(bands) == len(captions) and len({band.size for band, _, _ in bands}) == 1
    assert sum(chars for _, _, chars in bands) == sum(len(line) for c in captions for line in c)


def frame_at(path, seconds: float, tmp_path):
    import numpy as np
    from PIL import Image

    png = tmp_path / f"frame-{seconds:.2f}.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", f"{seconds:.2f}", "-i", str(path), "-frames:v", "1",
                    str(png)], check=True, timeout=60)
    with Image.open(png) as img:
        return np.asarray(img.convert("L"), int)


def test_long_pages_turn_their_captions_over_time_and_the_film_ends_with_credits(services, tmp_path):
    long = " ".join(["할머니는 눈 내리는 밤마다 아이에게 옛날이야기를 들려주셨어요."] * 5)
    saved = make_book(services.store, pages=4, durations=[4.0, 0.5, 0.5, 0.5], texts=[long, "짧아요."] * 2,
                      with_images=[False, True, True, True])
    book = gather(saved, services.store.media_for(saved.owner), services.backends)
    path = export_video(book, tmp_path / "out", burn_text=True, settings=services.settings, size=SMALL)
    early, late = frame_at(path, 0.4, tmp_path), frame_at(path, 3.6, tmp_path)
    band = slice(int(SMALL[1] * 0.6), SMALL[1])
    assert abs(early[band] - late[band]).mean() > 2  # a different caption later in the same page
    credits = frame_at(path, 5.5 + CREDITS_S / 2, tmp_path)
    assert credits.mean() > 200 and credits.std() > 8  # a paper card with words on it
