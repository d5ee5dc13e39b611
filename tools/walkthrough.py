"""Build a whole Korean book offline (story -> sketches -> espeak + voice match -> exports) and
screenshot every tab in headless Chromium, as a family would see it.

    .venv/bin/python tools/walkthrough.py OUT_DIR
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import app  # noqa: E402
from browser import browser_page  # noqa: E402
from studio import illustrate, narrate, story  # noqa: E402
from studio.backends.base import CancelToken  # noqa: E402
from studio.config import Settings  # noqa: E402
from studio.services import build_services  # noqa: E402


def build_book(services, owner="local"):
    store = services.store
    book = store.create(owner, "할머니의 감나무", "사랑하는 순자 할머니께", "ko", 6)
    story.save_memories(store, owner, book.id, subject_name="순자", relation="할머니",
                        traits="웃음이 많은, 손이 따뜻한", keywords="눈 내리는 숲의 밤, 감나무, 된장찌개",
                        anecdotes="할머니는 겨울마다 감을 말려 주셨다.\n눈 오는 밤이면 옛날이야기를 들려주셨다.\n"
                                  "시장에 가면 꼭 손을 잡아 주셨다.", tone="gentle fairy tale", reader_age="5-8",
                        page_count=6, language="ko")
    writer = services.backends.active("writer")
    for _ in story.write_story(store, writer, owner, book.id, CancelToken()):
        pass
    for _ in illustrate.illustrate_book(services, owner, book.id):
        pass
    voice = narrate.create_voice(services, owner, book.id, "순자 할머니", "ko")
    wav = Path(tempfile.mkdtemp()) / "grandma.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-p", "70", "-w", str(wav),
                    "옛날 옛적에 감나무 아래에서 할머니가 웃으셨어요. 눈이 내리는 밤이면 이야기를 들려주셨지요. " * 3],
                   check=True, timeout=60)
    narrate.add_recordings(services, owner, book.id, voice.id, [str(wav)])
    narrate.give_consent(services, owner, book.id, voice.id, "김민지", "손녀", "2026-11-22",
                         "할머니의 목소리를 이 책에 쓰는 것에 동의합니다.")
    narrate.set_pipeline(services, owner, book.id, voice.id, "espeak", "voice_match")
    for _ in narrate.narrate_book(services, owner, book.id):
        pass
    return store.get(owner, book.id)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    services = build_services(Settings(data_dir=Path(tempfile.mkdtemp()) / "data"))
    t0 = time.perf_counter()
    book = build_book(services)
    print(f"book built in {time.perf_counter() - t0:.1f} s: {len(book.pages)} pages, "
          f"narration {sum(p.chosen_narration().duration_s for p in book.pages):.1f} s")
    demo = app.build_app(services)
    _, url, _ = app.launch(demo, services, prevent_thread_lock=True, server_port=None, quiet=True)
    with browser_page(locale="ko-KR", height=1000) as page:
        page.goto(url)
        page.get_by_role("button", name="열기").click()
        page.wait_for_timeout(2500)
        for name in ["이야기", "그림", "목소리", "미리 보기", "내보내기", "설정", "서재"]:
            page.get_by_role("tab", name=name).click()
            page.wait_for_timeout(2500)
            page.screenshot(path=str(out / f"tab-{name}.png"), full_page=True)
            print("shot", name)
    demo.close()
    services.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/walk"))
