"""Make the two books of issue 10 the way a new user would, on the offline defaults only (the
offline storyteller, the picture-book drawings, eSpeak NG / Piper narration), export each as a
PDF, render its pages to PNG with poppler, and print the narration's measurements.

    .venv/bin/python tools/sample_books.py OUT_DIR [PAGES]

OUT_DIR gets ko.pdf, en.pdf, ko-page-N.png, en-page-N.png and ko-text.txt / en-text.txt.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from studio import illustrate, mastering, narrate, story  # noqa: E402
from studio.audio import read_wav  # noqa: E402
from studio.backends.base import CancelToken  # noqa: E402
from studio.config import Settings  # noqa: E402
from studio.export.exports import export_book  # noqa: E402
from studio.services import build_services  # noqa: E402

OWNER = "local"
BOOKS = {
    "ko": dict(title="할머니의 감나무", dedication="사랑하는 순자 할머니께", subject_name="순자", relation="할머니",
               traits="웃음이 많으셨음, 손이 따뜻하셨음", keywords="눈 내리는 숲의 밤, 할머니의 감나무, 된장찌개 냄새",
               anecdotes="눈 오는 밤이면 아랫목에 나를 눕히고 옛날이야기를 들려주셨다\n"
                         "가을마다 감을 따서 곶감을 만들어 주셨다\n내가 넘어지면 할머니가 제일 먼저 달려왔다",
               tone="gentle fairy tale"),
    "en": dict(title="Grandpa Harold's Lake", dedication="For Grandpa Harold, with love", subject_name="Harold",
               relation="grandpa", traits="laughed loudly, warm hands, always wore a red flannel shirt",
               keywords="the lake, pipe smoke smell, whistling",
               anecdotes="Grandpa took me fishing at the lake every summer.\nI still remember the smell of his pipe.\n"
                         "He taught me to whistle, and I practised for weeks.",
               tone="gentle fairy tale"),
}


def make_book(services, language: str, pages: int):
    spec = BOOKS[language]
    store = services.store
    book = store.create(OWNER, spec["title"], spec["dedication"], language, pages)
    story.save_memories(store, OWNER, book.id, subject_name=spec["subject_name"], relation=spec["relation"],
                        traits=spec["traits"], keywords=spec["keywords"], anecdotes=spec["anecdotes"],
                        tone=spec["tone"], reader_age="5-8", page_count=pages, language=language)
    for _ in story.write_story(store, services.backends.active("writer"), OWNER, book.id, CancelToken()):
        pass
    for _ in illustrate.illustrate_book(services, OWNER, book.id):
        pass
    voice = narrate.create_voice(services, OWNER, book.id, "storyteller", language)
    narrate.set_pipeline(services, OWNER, book.id, voice.id, "auto", "none")
    for _ in narrate.narrate_book(services, OWNER, book.id):
        pass
    return store.get(OWNER, book.id)


def measure(services, book) -> list[dict]:
    rows = []
    media = services.store.media_for(OWNER)
    for number, page in enumerate(book.pages, 1):
        take = page.chosen_narration()
        samples, sr = read_wav(media.path(take.audio))
        pitch = mastering.pitch_movement(samples, sr)
        rows.append({"page": number, "speaker": take.speaker, "lufs": round(mastering.loudness_lufs(samples, sr), 2),
                     "true_peak_db": round(mastering.true_peak_db(samples), 2),
                     "duration_s": round(len(samples) / sr, 2), "lra_lu": round(mastering.loudness_range(samples, sr), 2),
                     **pitch})
    return rows


def main(out: Path, pages: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    services = build_services(Settings(data_dir=Path(tempfile.mkdtemp()) / "data"))
    for language in ("ko", "en"):
        book = make_book(services, language, pages)
        (out / f"{language}-text.txt").write_text(
            "\n\n".join(f"[{i}] {p.text}" for i, p in enumerate(book.pages, 1)) + "\n", encoding="utf-8")
        for c in book.characters:
            print(f"{language} character: {c.name}: {c.description}")
        pdf = export_book(services, OWNER, book.id, "pdf", Path(tempfile.mkdtemp()), size="a4")
        target = out / f"{language}.pdf"
        target.write_bytes(Path(pdf).read_bytes())
        subprocess.run(["pdftoppm", "-r", "60", "-png", str(target), str(out / f"{language}-page")], check=True)
        for row in measure(services, book):
            print(f"{language} narration: " + ", ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 6)
