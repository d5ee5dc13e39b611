"""Training a voice through the running app (gradio_client), with the tiny RVC config, a tiny
HuBERT and 20 s of synthetic speech: refusals (no recordings, no consent, only silence) as one
message in the visitor's language; survey, estimate, start, progress with ETA, a sample, stop,
continue, finish; the new model narrates a page and exports with its consent."""
from __future__ import annotations

import functools
import time
import zipfile

import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file

from studio import audio as audiolib
from studio.audio import read_wav
from studio.book import Page, Recording
from studio.train_voice import plan
from tiny_voice import make_hubert
from tiny_voice_train import speechy, tiny_preset
from ui_helpers import client_in, refused


def _wait_for(job, predicate, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(predicate(o) for o in job.outputs()):
            return
        if job.done():
            break
        time.sleep(0.02)
    raise AssertionError(f"never seen; outputs: {[o[0] for o in job.outputs()]}")


def _has_sample(output) -> bool:
    slots = output[3:]  # status, warning, curve, then the samples (buttons are not in the API)
    return sum(1 for s in slots if isinstance(s, dict) and s.get("value")) >= 2  # standard + an epoch


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny model gains nothing from threads, and on a busy machine two threads waiting on
    each other made a step 15x slower (measured: 4 steps 39 s with 2 threads, 2.3 s with 1)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def hubert(tmp_path_factory):
    return make_hubert(tmp_path_factory.mktemp("hubert") / "hubert")


def test_refusals_are_one_message_in_the_visitors_language(launch_app, monkeypatch, hubert):
    monkeypatch.setitem(plan.PRESETS, "tiny", tiny_preset())
    url, services = launch_app(hubert_model=str(hubert))
    en, ko = client_in(url, "en-US"), client_in(url, "ko-KR")
    book_id = en.predict("할머니의 감나무", "", "ko", 4, api_name="/create_book")[0]["value"]
    voice_id = en.predict("순자 할머니", api_name="/voice_create")[0]["value"]
    ko.predict(api_name="/list_books")
    ko.predict(book_id, api_name="/open_book")
    ko.predict(api_name="/voice_refresh")

    form = (voice_id, "tiny", "", "")
    assert "consent" in refused(en, *form, api_name="/voice_train_start")  # consent is asked first
    assert "동의" in refused(ko, *form, api_name="/voice_train_estimate")
    en.predict(voice_id, "민지", "손녀", "2026-11-30", "할머니 목소리를 우리 가족 책에만 쓰는 데 동의해요.",
               api_name="/voice_consent")
    from studio import messages  # the training section's lines are said in each visitor's own language
    for client, lang in ((ko, "ko"), (en, "en")):
        consent_line = client.predict(voice_id, "tiny", api_name="/voice_train_refresh")[0]
        assert consent_line == messages.text("voice_train_ui.consent_given", lang, given_by="민지", relation="손녀",
                                             date="2026-11-30")
    assert "no recordings" in refused(en, *form, api_name="/voice_train_start")
    assert "녹음이 없어요" in refused(ko, *form, api_name="/voice_train_start")
    assert "no recordings" in refused(en, *form, api_name="/voice_train_estimate")

    quiet = audiolib.wav_bytes(np.zeros(5 * audiolib.WORK_SR, np.float32), audiolib.WORK_SR)
    silence = services.store.media_for("local").put_bytes(quiet, "wav")
    services.store.update("local", book_id, lambda b: setattr(b.voice(voice_id), "recordings",
                                                              [Recording(audio=silence, original_name="quiet.wav")]))
    assert "only silence" in refused(en, *form, api_name="/voice_train_start")
    assert "소리" in refused(ko, voice_id, "tiny", api_name="/voice_train_survey")
    assert "no voice model" in refused(en, voice_id, api_name="/voice_train_export")
    assert "이어서 할 학습이 없어요" in refused(ko, *form, api_name="/voice_train_resume")
    assert not any((services.settings.data_dir / "owners").rglob("train_voice/*/checkpoint.pt"))
    assert services.store.get("local", book_id).voice(voice_id).model_files == {}


def test_train_stop_continue_narrate_and_export(launch_app, monkeypatch, hubert, tmp_path):
    monkeypatch.setitem(plan.PRESETS, "tiny", tiny_preset(epochs=6, sample_every=1))
    url, services = launch_app(hubert_model=str(hubert), max_file_size_mb=20)
    c = client_in(url, "en-US")
    book_id = c.predict("할머니의 감나무", "", "ko", 4, api_name="/create_book")[0]["value"]
    services.store.update("local", book_id, lambda b: b.pages.append(Page(text="할머니가 노래를 불렀어요.")))
    page_id = services.store.get("local", book_id).pages[-1].id
    c.predict(api_name="/voice_refresh")
    voice_id = c.predict("순자 할머니", api_name="/voice_create")[0]["value"]
    wav = tmp_path / "grandma.wav"
    sf.write(wav, speechy(20.0), audiolib.WORK_SR)
    c.predict(voice_id, [handle_file(str(wav))], None, api_name="/voice_add_recordings")
    c.predict(voice_id, "Minji", "granddaughter", "2026-11-30", "We agree to train Grandma's voice for our book.",
              api_name="/voice_consent")

    view = c.predict(voice_id, "tiny", api_name="/voice_train_refresh")
    assert "Consent given by Minji" in view[0] and "not been trained" in view[3]
    assert "of clear speech usable" in view[1]  # the survey comes first, without asking
    survey = c.predict(voice_id, "tiny", api_name="/voice_train_survey")
    assert "min** of clear speech usable" in survey and "about 10 minutes" in survey
    estimate = c.predict(voice_id, "tiny", "", "", api_name="/voice_train_estimate")
    assert "on this computer's processor (CPU)" in estimate and "12 steps" in estimate

    job = c.submit(voice_id, "tiny", "", "", api_name="/voice_train_start")
    _wait_for(job, _has_sample)
    assert c.predict(api_name="/voice_train_cancel").startswith("Stopping")
    job.result(timeout=60)
    statuses = [o[0] for o in job.outputs()]
    assert any("Epoch 1 of 6" in s and "left" in s for s in statuses), statuses
    final = job.outputs()[-1]
    assert "can continue" in final[0]
    curve = final[2]["data"]  # the loss curve so far: every loss at every step trained
    assert _has_sample(final) and {row[1] for row in curve} == {"mel", "kl", "fm", "gen", "d"}
    assert services.store.get("local", book_id).voice(voice_id).model_files == {}
    stopped_at = int(final[0].split("step ")[1].split(" ")[0])
    assert 1 <= stopped_at < 12

    checkpoint = next((services.settings.data_dir / "owners").rglob("train_voice/*/checkpoint.pt"))
    said = refused(c, voice_id, "tiny", "", "", api_name="/voice_train_start")  # one click loses nothing
    assert "press “Start training” again" in said and checkpoint.is_file()
    view = c.predict(voice_id, "tiny", api_name="/voice_train_refresh")  # as after a restart: offered to continue
    assert "can continue" in view[3]
    job = c.submit(voice_id, "tiny", "", "", api_name="/voice_train_resume")
    job.result(timeout=90)
    steps = [int(o[0].split("step ")[1].split(" ")[0]) for o in job.outputs() if "step " in o[0]]
    assert steps and min(steps) > stopped_at and "Training finished" in job.outputs()[-1][0]
    labels = [s["label"] for s in job.outputs()[-1][3:] if isinstance(s, dict) and s.get("value")]
    assert labels == ["Before training: the book's reader"] + [f"After epoch {e}" for e in range(2, 7)]

    voice = services.store.get("local", book_id).voice(voice_id)
    assert voice.converter == "rvc" and set(voice.model_files) == {"pth", "index"}
    _, takes, audio = c.predict(voice_id, page_id, api_name="/narrate_page")
    take = services.store.get("local", book_id).page(page_id).chosen_narration()
    samples, sr = read_wav(services.store.media_for("local").path(take.audio))
    assert take.converter == "rvc" and sr == 40000 and np.sqrt(np.mean(samples ** 2)) > 0.01 and audio

    exported, consent = c.predict(voice_id, api_name="/voice_train_export")
    with zipfile.ZipFile(exported["path"] if isinstance(exported, dict) else exported) as zf:
        assert sorted(zf.namelist()) == ["consent.json", "순자-할머니.index", "순자-할머니.pth"]
    assert "Consent given by Minji" in consent and "We agree" in consent


# -- the parts behind the section, without the page -------------------------------------------------
def test_presets_follow_what_rvc_users_report():
    balanced, quick, best = (plan.PRESETS[k] for k in ("balanced", "quick", "best"))
    assert plan.epochs_for(balanced, 10) == 50 and plan.epochs_for(balanced, 30) == 10
    assert plan.epochs_for(quick, 10) == 20 and plan.epochs_for(best, 10) == 100
    assert plan.epochs_for(balanced, 3) > plan.epochs_for(balanced, 10) > plan.epochs_for(balanced, 60)
    assert plan.epochs_for(balanced, 0.1) == balanced.max_epochs and plan.epochs_for(quick, 500) == quick.min_epochs
    assert plan.sample_every_for(balanced, 50) == 6 and plan.sample_every_for(quick, 5) == 1


def test_pretrained_bases_come_from_a_path_or_the_hub(tmp_path):
    from studio.config import Settings
    from studio.train_voice import TrainingRefused

    local, public = Settings(data_dir=tmp_path / "a", mode="local"), Settings(data_dir=tmp_path / "b", mode="public")
    base = tmp_path / "f0G40k.pth"
    assert plan.resolve_pretrained("", local) == "" and plan.resolve_pretrained(str(base), local) == str(base)
    for source, settings, key in [(str(base), public, "voice_train_ui.pretrained_path_public"),
                                  ("just-a-name", local, "voice_train_ui.pretrained_bad_source"),
                                  ("someone/rvc-bases/pretrained_v2/f0G40k.pth", local,
                                   "voice_train_ui.pretrained_not_found")]:  # offline, not in the cache
        with pytest.raises(TrainingRefused) as info:
            plan.resolve_pretrained(source, settings)
        assert info.value.key == key and info.value.render("ko") != info.value.render("en")


def _services_with_voice(settings):
    from studio.narrate import create_voice
    from studio.services import build_services
    from tiny_voice_train import CONSENT

    services = build_services(settings)
    book = services.store.create("owner-a", "Book", "", "ko", 4)
    voice = create_voice(services, "owner-a", book.id, "Grandma")
    ref = services.store.media_for("owner-a").put_bytes(audiolib.wav_bytes(speechy(20.0), audiolib.WORK_SR), "wav")

    def change(b):
        b.voice(voice.id).recordings = [Recording(audio=ref, original_name="g.wav")]
        b.voice(voice.id).consent = CONSENT

    services.store.update("owner-a", book.id, change)
    return services, book.id, voice.id


def test_training_in_windows_goes_on_to_the_end_and_frees_the_checkpoint(monkeypatch, hubert, tmp_path):
    from studio.backends.base import CancelToken
    from studio import zerogpu
    from studio.config import Settings
    from studio.train_voice import session
    from tabs.voice_train import _warn_text

    monkeypatch.setitem(plan.PRESETS, "tiny", tiny_preset(epochs=3, sample_every=0))
    services, book_id, voice_id = _services_with_voice(
        Settings(data_dir=tmp_path / "data", mode="local", hubert_model=str(hubert)))
    # each window as one GPU call, as on ZeroGPU (here the call runs in this process)
    turn = zerogpu.GpuFunction("train_voice_test", functools.partial(session.run_window, services),
                               session.window_units, services.settings)
    events = list(session.train(services, "owner-a", book_id, voice_id, "tiny", CancelToken(), window_steps=2,
                                window_fn=turn))
    kinds = [e.payload["event"] for e in events]
    steps = [e.payload["step"] for e in events if e.payload["event"] == "step"]
    assert kinds.count("survey") == 1 and "paused" not in kinds and kinds[-1] == "published"
    assert steps == list(range(1, 7))  # 2 steps an epoch, 3 epochs, in windows of 2 steps
    st = session.status(services, "owner-a", voice_id)
    assert st["run"]["state"] == "done" and not st["resumable"] and len(st["run"]["losses"]) == 6
    assert not (session.workdir(services, "owner-a", voice_id) / "checkpoint.pt").exists()
    assert turn.clock.measured == 3 and session.steps_per_turn(turn.clock) >= 1
    assert "epoch 4" in _warn_text({"overtraining": 4}) and _warn_text(st["run"]) == ""  # said in English here
    services.close()


def test_a_stopped_training_continues_after_a_restart(monkeypatch, hubert, tmp_path):
    from studio.backends.base import Cancelled, CancelToken
    from studio.config import Settings
    from studio.services import build_services
    from studio.train_voice import session

    monkeypatch.setitem(plan.PRESETS, "tiny", tiny_preset(epochs=2, sample_every=0))
    settings = Settings(data_dir=tmp_path / "data", mode="local", hubert_model=str(hubert))
    services, book_id, voice_id = _services_with_voice(settings)
    token = CancelToken()
    with pytest.raises(Cancelled):
        for event in session.train(services, "owner-a", book_id, voice_id, "tiny", token):
            if event.payload.get("step") == 3:
                token.cancel()
                stopped_eta = event.payload["eta_s"]
    services.close()  # the studio stops; the checkpoint and the run record stay in the data dir

    services = build_services(settings)
    st = session.status(services, "owner-a", voice_id)
    assert st["resumable"] and st["run"]["state"] == "paused" and st["run"]["last"]["step"] == 3
    with pytest.raises(Exception) as info:  # a new start is not silently a continuation
        list(session.train(services, "owner-a", book_id, voice_id, "nope", CancelToken()))
    assert getattr(info.value, "key", "") == "voice_train_ui.unknown_preset" and session.status(
        services, "owner-a", voice_id)["resumable"]
    events = list(session.train(services, "owner-a", book_id, voice_id, None, CancelToken(), fresh=False))
    steps = [e.payload for e in events if e.payload["event"] == "step"]
    assert [p["step"] for p in steps] == [4] and events[-1].payload["event"] == "published"
    assert steps[0]["elapsed_s"] > 0 and steps[0]["eta_s"] is not None and stopped_eta is not None
    assert [p["step"] for p in session.status(services, "owner-a", voice_id)["run"]["losses"]] == [1, 2, 3, 4]
    folder = session.workdir(services, "owner-a", voice_id)
    assert folder.is_dir() and session.forget_voice(services, "owner-a", voice_id) and not folder.exists()
    assert not session.forget_voice(services, "owner-a", voice_id)
    folder.mkdir(parents=True)
    assert session.forget_owner(services, "owner-a") and not folder.parent.exists()
    services.close()


def test_a_sample_that_cannot_be_made_does_not_stop_training(monkeypatch, hubert, tmp_path):
    from studio import narrate
    from studio.backends.base import BackendError
    from studio.config import Settings
    from studio.train_voice import session

    services, book_id, voice_id = _services_with_voice(
        Settings(data_dir=tmp_path / "data", mode="local", hubert_model=str(hubert)))

    def speaker_gone(*_a, **_k):
        raise BackendError("voice.speaker_unavailable", name="Remote", reason="the server is down")

    monkeypatch.setattr(narrate, "render", speaker_gone)
    folder = session.workdir(services, "owner-a", voice_id)
    make = session.sample_maker(services, "owner-a", book_id, voice_id, folder)
    assert make(3, model=None) == {"epoch": 3, "file": None}
    assert session.samples(folder) == []
    services.close()


def test_samples_use_the_pitch_method_the_voice_is_trained_with(monkeypatch, hubert, tmp_path):
    """The model's pitch embedding learnt the training method's curves: its samples are converted
    with that method, not with the narration's."""
    import numpy as np

    from studio import narrate
    from studio.backends.base import Audio
    from studio.backends.rvc import pipeline
    from studio.config import Settings
    from studio.train_voice import session

    services, book_id, voice_id = _services_with_voice(
        Settings(data_dir=tmp_path / "data", mode="local", hubert_model=str(hubert)))
    spoken = Audio(np.zeros(16000, dtype=np.float32), 16000)
    monkeypatch.setattr(narrate, "render", lambda *a, **k: type("Take", (), {"standard": spoken})())
    used = []
    monkeypatch.setattr(pipeline, "convert", lambda samples, rate, model, features, opts: (
        used.append(opts.f0_method) or (np.zeros(400, dtype=np.float32), 40000)))
    folder = session.workdir(services, "owner-a", voice_id)
    make = session.sample_maker(services, "owner-a", book_id, voice_id, folder, "harvest")
    assert make(2, model=None)["file"] == "epoch_0002.wav" and used == ["harvest"]
    services.close()


def test_the_estimate_stops_timing_on_a_slow_computer(monkeypatch, hubert, tmp_path):
    from studio.config import Settings

    from studio.train_voice.trainer import VoiceTrainer

    monkeypatch.setattr(plan, "ESTIMATE_BUDGET_S", 0.0)  # as if the first step took too long
    steps_run, real_step = [], VoiceTrainer.train_step
    monkeypatch.setattr(VoiceTrainer, "train_step", lambda self: steps_run.append(1) or real_step(self))
    services, book_id, voice_id = _services_with_voice(
        Settings(data_dir=tmp_path / "data", mode="local", hubert_model=str(hubert)))
    est = plan.estimate(services, "owner-a", book_id, voice_id, tiny_preset(epochs=5))
    assert est.device == "cpu" and est.epochs == 5 and est.total_steps == 10  # 5 training slices, batch 4
    assert len(steps_run) == 1 and est.seconds_per_step > 0 and est.total_s >= est.seconds_per_step * 10
    assert est.gpu_s is None  # the field figure is for the published model only
    left = {p.name for p in (tmp_path / "data" / "owners").rglob("train_voice/*/*")}
    assert left == {"features"}  # timing leaves only the prepared slices, which the training reuses
    services.close()
