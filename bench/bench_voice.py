"""Voice bench: real-time factor of each available speech + conversion chain on a 12-page Korean
story, and RVC conversion through the studio vs the same model called directly.

  rtf        = seconds of work / seconds of narration produced (lower is faster; < 1 is real time)
  rvc_ratio  = studio RvcConverter.convert time / direct pipeline call on the same loaded model
               (median of alternating runs; the target is <= 1.05)

Models: GIEOK_VITS_MODEL_KO, GIEOK_HUBERT_MODEL and --pth/--index when you have them; otherwise
tiny random models are built (numbers then show the studio's overhead), or with --full-size random
models of the published sizes (the real compute cost, not a real voice).
Run: .venv/bin/python bench/bench_voice.py [--pages 12] [--pth voice.pth --index voice.index]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

STORY = [
    "옛날 옛적, 산 아래 작은 마을에 순자 할머니가 살았어요.",
    "할머니의 집 마당에는 커다란 감나무가 한 그루 있었지요.",
    "봄이 오면 할머니는 감나무 아래에서 나물을 다듬으며 노래를 불렀어요.",
    "여름에는 감나무 그늘에 돗자리를 펴고 손주들에게 옛이야기를 들려주었어요.",
    "가을이 되면 빨간 감이 주렁주렁 열려 온 마당이 환해졌어요.",
    "할머니는 가장 잘 익은 감을 골라 이웃들과 나누어 먹었어요.",
    "겨울밤에는 곶감을 꺼내 주시며 따뜻한 아랫목에 우리를 앉혔지요.",
    "할머니의 손은 늘 거칠었지만, 그 손길은 누구보다 따뜻했어요.",
    "어느 날 할머니는 말했어요. 감나무처럼 천천히, 단단하게 자라거라.",
    "세월이 흘러 할머니는 먼 곳으로 떠나셨어요.",
    "하지만 감나무는 해마다 빨간 감을 매달고 우리를 기다려요.",
    "감을 볼 때마다 우리는 할머니의 노래를 오래오래 기억해요.",
]


def build(args, tmp: Path):
    from studio.config import Settings
    from studio.services import build_services

    import tiny_voice as tv

    overrides = {"data_dir": tmp / "data"}
    base = Settings.from_env()
    if not base.hubert_model:
        overrides["hubert_model"] = str(tv.make_hubert(tmp / "hubert", full_size=args.full_size))
    if not base.vits_model_ko and args.tiny_vits:
        overrides["vits_model_ko"] = str(tv.make_vits(tmp / "vits"))
    services = build_services(Settings.from_env(**overrides))
    config = tv.FULL_RVC_CONFIG if args.full_size else None
    pth = args.pth or str(tv.make_rvc_pth(tmp / "random.pth", config=config))
    index = args.index if args.pth else str(tv.make_index(tmp / "tiny.index"))
    return services, pth, index


def chains(services):
    for speaker in ("espeak", "piper", "vits", "xtts"):
        if not services.backends.get("speaker", speaker).available().ok:
            print(f"  (skip {speaker}: {services.backends.get('speaker', speaker).available().reason})")
            continue
        supports = getattr(services.backends.get("speaker", speaker), "supports", None)
        if callable(supports) and not supports("ko"):  # the story is Korean (Piper reads English only)
            print(f"  (skip {speaker}: does not read Korean)")
            continue
        for converter in ("none", "voice_match", "rvc"):
            yield speaker, converter


def bench_chains(services, pth, index, pages: list[str]) -> dict[str, float]:
    from studio import narrate
    from studio.book import Page

    owner = "bench"
    book = services.store.create(owner, "감나무", page_count=max(4, min(24, len(pages))))
    services.store.update(owner, book.id, lambda b: b.pages.extend(Page(text=t) for t in pages))
    voice = narrate.create_voice(services, owner, book.id, "할머니")
    import soundfile as sf

    from tiny_voice import speech_like
    rec = Path(tempfile.mkdtemp()) / "rec.wav"
    sf.write(rec, speech_like(30.0, 24000, 230.0), 24000)
    narrate.add_recordings(services, owner, book.id, voice.id, [rec])
    narrate.give_consent(services, owner, book.id, voice.id, "bench", "self", "2026-01-01", "bench")
    narrate.attach_rvc_model(services, owner, book.id, voice.id, pth, index)
    print(f"{'chain':28s} {'work s':>8s} {'audio s':>8s} {'rtf':>6s}")
    rtfs = {}
    for speaker, converter in chains(services):
        narrate.set_pipeline(services, owner, book.id, voice.id, speaker, converter)
        narrate.preview(services, owner, book.id, voice.id, pages[0])  # warm-up: loads models
        start = time.perf_counter()
        events = list(narrate.narrate_book(services, owner, book.id))
        work = time.perf_counter() - start
        got = services.store.get(owner, book.id)
        audio = sum(p.chosen_narration().duration_s for p in got.pages)
        print(f"{speaker + ' -> ' + converter:28s} {work:8.2f} {audio:8.1f} {work / audio:6.3f}"
              f"   ({len(events) - 1} pages)")
        rtfs[f"rtf_{speaker}_{converter}"] = work / audio
    return rtfs


def bench_rvc_overhead(services, pth, index, repeats: int) -> float:
    from studio.backends.rvc.pipeline import ConversionOptions, convert
    from studio.backends.tts_espeak import EspeakSpeaker

    converter = services.backends.get("converter", "rvc")
    spoken = EspeakSpeaker(services.settings).speak(" ".join(STORY[:3]), "ko")
    options = dict(index_rate=0.5, transpose=0.0, protect=0.33, filter_radius=3, rms_mix_rate=0.25)
    converter.convert(spoken, model_path=pth, index_path=index, **options)  # loads and caches everything
    model, features = converter.model(pth), converter.features()
    idx, vectors = converter.index(index, model.synthesizer.feature_dim)
    studio_times, direct_times = [], []
    for _ in range(repeats):  # alternate so machine noise hits both sides alike
        t0 = time.perf_counter()
        converter.convert(spoken, model_path=pth, index_path=index, **options)
        studio_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        convert(spoken.samples, spoken.sample_rate, model, features, ConversionOptions(**options), idx, vectors)
        direct_times.append(time.perf_counter() - t0)
    s, d = statistics.median(studio_times), statistics.median(direct_times)
    print(f"rvc on {spoken.duration_s:.1f} s: studio {s:.3f} s, direct {d:.3f} s, rvc_ratio {s / d:.3f} "
          f"({'ok' if s / d <= 1.05 else 'OVER 1.05'})")
    return s / d


KO_PAGE = ("순자 할머니는 눈 내리는 숲 속 작은 집에 살았어요. 할머니는 3살 손녀에게 옛날이야기를 들려주셨지요. "
           "된장찌개 냄새가 온 집 안에 퍼졌어요. 밖에는 눈이 소복소복 쌓였어요. 할머니, 내일도 이야기해 주실 거예요?")
EN_PAGE = ("Grandpa Harold lived in a small house by the sea. Every morning, he walked to the harbor with his dog. "
           "He told the child stories about the boats, the storms and the stars. Did he ever get tired? "
           "Never, he said, not once.")


def bench_quality(settings) -> dict[str, float]:
    """Narration as the family hears it: the old flat eSpeak take (one call, rate 150, plain gain
    with a 0.98 sample-peak cap) against the storyteller takes mastered to -18 LUFS."""
    from studio import mastering
    from studio.audio import normalize_loudness, remove_dc
    from studio.backends.tts_espeak import EspeakSpeaker
    from studio.backends.tts_piper import PiperSpeaker

    espeak, piper = EspeakSpeaker(settings), PiperSpeaker(settings)
    runs = [("ko espeak flat (before)", lambda: espeak.speak(KO_PAGE, "ko", rate=150, style="plain"), "old"),
            ("ko espeak storyteller", lambda: espeak.speak(KO_PAGE, "ko"), "new"),
            ("en espeak flat (before)", lambda: espeak.speak(EN_PAGE, "en", rate=150, style="plain"), "old"),
            ("en espeak storyteller", lambda: espeak.speak(EN_PAGE, "en"), "new")]
    if piper.available().ok:
        runs.append(("en piper storyteller", lambda: piper.speak(EN_PAGE, "en"), "new"))
    print(f"{'take':26s} {'make s':>6s} {'dur s':>6s} {'LUFS':>6s} {'dBTP':>6s} {'LRA':>5s} "
          f"{'f0 st':>6s} {'±4Hz':>5s} {'median':>6s}")
    figures: dict[str, float] = {}
    for name, make, mastering_kind in runs:
        start = time.perf_counter()
        audio = make()
        x, sr = remove_dc(audio.samples, audio.sample_rate), audio.sample_rate
        x = normalize_loudness(x, sr, -18.0) if mastering_kind == "old" else mastering.master_take(x, sr)
        seconds = time.perf_counter() - start
        pitch = mastering.pitch_movement(x, sr)
        row = {"lufs": mastering.loudness_lufs(x, sr), "tp": mastering.true_peak_db(x),
               "lra": mastering.loudness_range(x, sr), "spread": pitch["spread_st"]}
        print(f"{name:26s} {seconds:6.2f} {len(x) / sr:6.1f} {row['lufs']:6.1f} {row['tp']:6.1f} {row['lra']:5.1f} "
              f"{pitch['spread_st']:6.2f} {pitch['near_median']:5.2f} {pitch['median_hz']:6.1f}")
        key = name.split(" (")[0].replace(" ", "_")
        figures.update({f"{key}_lufs": row["lufs"], f"{key}_true_peak_db": row["tp"],
                        f"{key}_pitch_spread_st": row["spread"]})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--pth", default="")
    parser.add_argument("--index", default="")
    parser.add_argument("--tiny-vits", action="store_true", help="build a tiny VITS when none is configured")
    parser.add_argument("--quality-only", action="store_true", help="only the loudness / pitch / pause figures")
    parser.add_argument("--full-size", action="store_true",
                        help="random RVC v2 40k + HuBERT-base shaped models: real compute cost")
    args = parser.parse_args()
    from studio.config import Settings
    if args.quality_only:
        with tempfile.TemporaryDirectory() as tmp:
            figures = bench_quality(Settings.from_env(data_dir=Path(tmp)))
        for name, value in figures.items():
            print(f"{name}: {value:.2f}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        services, pth, index = build(args, Path(tmp))
        try:
            figures = bench_chains(services, pth, index, (STORY * 2)[: args.pages])
            figures["rvc_ratio"] = bench_rvc_overhead(services, pth, index, args.repeats)
        finally:
            services.close()
    for name, value in figures.items():  # the key figures last, as ``name: value`` (bench/run_all)
        print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
