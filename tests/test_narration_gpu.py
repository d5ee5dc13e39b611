"""Narration on ZeroGPU (``spaces`` faked as in test_spaces): a torch speaker or converter runs in
one GPU turn sized from the text, speech that needs no GPU spends none, and a narration made inside
a turn (a training window's sample) stays in that turn."""
from __future__ import annotations


import pytest
from test_spaces import use_fake_zerogpu

from studio import narrate, narrate_gpu, zerogpu
from studio.book import Page
from tiny_voice import make_vits

TEXT = "할머니는 감나무 아래에서 노래를 불렀어요."


@pytest.fixture
def fake_zerogpu(monkeypatch):
    fake, _ = use_fake_zerogpu(monkeypatch)
    monkeypatch.setattr(narrate_gpu, "_gpu_functions", {})
    return fake


def _book(services, speaker: str, converter: str = "none"):
    book = services.store.create("local", "책", page_count=4)
    book = services.store.update("local", book.id, lambda b: b.pages.append(Page(text=TEXT)))
    voice = narrate.create_voice(services, "local", book.id, "기본")
    narrate.set_pipeline(services, "local", book.id, voice.id, speaker, converter, {})
    return book


def test_a_vits_take_runs_in_one_gpu_turn_sized_from_its_text(fake_zerogpu, services, tmp_path):
    services.settings.vits_model_ko = str(make_vits(tmp_path / "vits"))
    book = _book(services, "vits")
    take = narrate.narrate_page(services, "local", book.id, book.pages[0].id)
    assert take.speaker == "vits" and take.duration_s > 0
    units = narrate_gpu.narration_units("vits", "none", None, TEXT)
    assert units == pytest.approx(max(1.0, len(TEXT) / narrate_gpu.CHARACTERS_PER_UNIT))
    clock = zerogpu.clock("narrate", services.settings)
    assert fake_zerogpu.durations == [clock.duration(units)]  # one turn; its arguments crossed pickled
    assert clock.measured == 1


def test_speech_without_torch_models_spends_no_gpu_turn(fake_zerogpu, services):
    book = _book(services, "espeak")
    take = narrate.narrate_page(services, "local", book.id, book.pages[0].id)
    assert take.speaker == "espeak" and take.duration_s > 0
    assert fake_zerogpu.durations == []
    assert narrate_gpu.needs_gpu("espeak", "rvc") and narrate_gpu.needs_gpu("xtts", "none")
    assert not narrate_gpu.needs_gpu("piper", "voice_match")


def test_gpu_work_asked_for_inside_a_turn_runs_in_that_turn(fake_zerogpu, settings):
    inner = zerogpu.GpuFunction("inner", lambda x: x * 2, lambda x: 1.0, settings)
    outer = zerogpu.GpuFunction("outer", lambda x: inner(x) + 1, lambda x: 1.0, settings)
    assert outer(20) == 41
    assert len(fake_zerogpu.durations) == 1  # the outer turn only: no turn requested from within a turn
    assert inner(1) == 2 and len(fake_zerogpu.durations) == 2  # outside a turn it asks for its own
