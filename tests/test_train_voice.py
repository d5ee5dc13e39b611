"""RVC v2 training on CPU with a tiny generator, a tiny HuBERT saved locally and ~20 s of
synthetic speech-like audio: cached features, training steps, cancel/resume, export that the
studio's RVC inference loads, fine-tuning from pretrained files, and every bad-data refusal."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio import audio as audiolib
from studio.backends.base import Audio, Cancelled, CancelToken
from studio.backends.rvc import RvcConverter
from studio.backends.rvc.checkpoint import load_model
from studio.backends.rvc.pipeline import FeatureExtractor
from studio.book import Recording
from studio.config import Settings
from studio.train_voice import TrainingRefused
from studio.train_voice.dataset import extract, extractor_identity, is_clipped, survey
from studio.train_voice.export import build_index, export_pth, ivf_lists
from studio.train_voice.flow import TrainRequest, feature_cache_dir, train_voice
from studio.train_voice.model import to_reference_keys
from studio.train_voice.trainer import TrainOptions, VoiceTrainer
from tiny_voice import make_hubert
from tiny_voice_train import CONSENT, TINY_TRAIN_CONFIG, speechy

@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_voice")
    hubert = make_hubert(root / "hubert")
    wav = root / "grandma.wav"
    wav.write_bytes(audiolib.wav_bytes(speechy(20.0), audiolib.WORK_SR))
    found = survey([("grandma.wav", wav)], 40000, min_speech_s=5)
    features = FeatureExtractor(str(hubert))
    items, stats = extract(found, root / "cache", features, extractor_identity(str(hubert)))
    return {"root": root, "hubert": hubert, "wav": wav, "found": found, "items": items, "stats": stats,
            "features": features}


def tiny_options(**kw) -> TrainOptions:
    base = dict(epochs=3, batch_size=2, seed=7, save_every=100, sample_every=0, d_shrink=16)
    base.update(kw)
    return TrainOptions(**base)


def test_survey_reports_usable_speech(kit):
    summary = kit["found"].summary()
    assert summary["slices"] >= 5 and 15 / 60 < summary["speech_minutes"] <= 20 / 60
    assert summary["enough"] is False
    assert [k for k, _ in kit["found"].warnings] == ["train_voice.warn_little_speech"]


def test_features_are_cached_and_a_second_run_reads_them(kit):
    assert kit["stats"] == {"computed": len(kit["items"]), "cached": 0}
    first = kit["items"][0]
    assert first.phone.shape[1] == 768 and first.pitchf.max() > 100  # voiced synthetic speech

    def no_model(*_a, **_k):
        raise AssertionError("features were computed again")

    items, stats = extract(kit["found"], kit["root"] / "cache", no_model, extractor_identity(str(kit["hubert"])))
    assert stats == {"computed": 0, "cached": len(kit["items"])}
    np.testing.assert_array_equal(items[0].phone, first.phone)
    np.testing.assert_array_equal(items[0].pitchf, first.pitchf)


def test_training_steps_give_finite_changing_losses_and_progress(kit, tmp_path):
    trainer = VoiceTrainer(kit["items"], TINY_TRAIN_CONFIG, tiny_options(), tmp_path / "run")
    events = list(trainer.run(max_steps=4))
    steps = [e for e in events if e.payload["event"] == "step"]
    assert len(steps) == 4 and events[-1].payload["event"] == "paused"
    for e in steps:
        assert all(np.isfinite(v) for v in e.payload["losses"].values())
        assert e.payload["eta_s"] is not None and 0 < e.payload["percent"] <= 100
    mel = [e.payload["losses"]["mel"] for e in steps]
    assert len(set(mel)) == len(mel)
    assert trainer.checkpoint_path.is_file()


def _weights(trainer):
    return {k: v.detach().clone() for k, v in trainer.net_g.state_dict().items()}


def test_cancel_then_resume_continues_exactly(kit, tmp_path):
    straight = VoiceTrainer(kit["items"], TINY_TRAIN_CONFIG, tiny_options(), tmp_path / "straight")
    list(straight.run(max_steps=5))
    token = CancelToken()
    first = VoiceTrainer(kit["items"], TINY_TRAIN_CONFIG, tiny_options(), tmp_path / "cut")
    with pytest.raises(Cancelled):
        for event in first.run(cancel=token):
            if event.payload.get("step") == 3:
                token.cancel()
    saved = torch.load(str(first.checkpoint_path), weights_only=True)
    assert saved["step"] == 3
    resumed = VoiceTrainer(kit["items"], TINY_TRAIN_CONFIG, tiny_options(), tmp_path / "cut")
    assert resumed.resumed and resumed.step == 3 and resumed.elapsed_s == pytest.approx(saved["elapsed_s"])
    for key, value in saved["opt_g"]["state"][0].items():
        torch.testing.assert_close(resumed.opt_g.state_dict()["state"][0][key], value)
    events = list(resumed.run(max_steps=2))
    assert [e.payload["step"] for e in events if e.payload["event"] == "step"] == [4, 5]
    assert events[0].payload["elapsed_s"] > saved["elapsed_s"]  # the ETA keeps the time already spent
    for key, value in _weights(straight).items():
        torch.testing.assert_close(_weights(resumed)[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_export_has_community_layout_and_converts_in_the_studio(kit, tmp_path):
    trainer = VoiceTrainer(kit["items"], TINY_TRAIN_CONFIG, tiny_options(), tmp_path / "run")
    list(trainer.run(max_steps=2))
    pth = export_pth(trainer.net_g, TINY_TRAIN_CONFIG, tmp_path / "grandma.pth", version="v2", use_f0=True,
                     epoch=1, step=trainer.step, voice_name="Grandma", consent=CONSENT)
    index = build_index(kit["items"], tmp_path / "grandma.index")
    ckpt = torch.load(str(pth), weights_only=True)
    assert {"weight", "config", "info", "sr", "f0", "version"} <= set(ckpt)
    assert ckpt["sr"] == "40k" and ckpt["f0"] == 1 and ckpt["version"] == "v2" and ckpt["config"] == TINY_TRAIN_CONFIG
    assert not any(k.startswith("enc_q.") for k in ckpt["weight"])
    assert all(v.dtype == torch.float16 for v in ckpt["weight"].values())
    assert "dec.ups.0.weight_g" in ckpt["weight"] and "flow.flows.0.enc.in_layers.0.weight_v" in ckpt["weight"]
    assert "Minji" in ckpt["info"] and ckpt["gieok"]["consent"]["relation"] == "granddaughter"
    loaded = load_model(pth)  # the studio's loader for user-supplied files
    live = trainer.inference_model().synthesizer.state_dict()
    for key, value in loaded.synthesizer.state_dict().items():
        torch.testing.assert_close(value, live[key], rtol=2e-3, atol=2e-3, msg=key)  # fp16 export
    converter = RvcConverter(Settings(data_dir=tmp_path / "data", hubert_model=str(kit["hubert"])))
    source = Audio(kit["items"][0].wav, 40000)
    out = converter.convert(source, model_path=str(pth), index_path=str(index), index_rate=0.5)
    assert out.sample_rate == 40000 and abs(out.duration_s - source.duration_s) < 0.02
    assert np.isfinite(out.samples).all() and np.abs(out.samples).max() > 0


def test_index_size_follows_the_reference():
    assert ivf_lists(10) == 0 and ivf_lists(39) == 1 and ivf_lists(100_000) == min(int(16 * 100_000 ** 0.5), 2564)


def test_fine_tuning_starts_from_pretrained_weights(kit, tmp_path):
    base = VoiceTrainer(kit["items"], TINY_TRAIN_CONFIG, tiny_options(seed=99), tmp_path / "base")
    g_state = to_reference_keys(base.net_g.state_dict())
    g_state["enc_p.emb_phone.weight"] = torch.full_like(g_state["enc_p.emb_phone.weight"], 0.125)
    torch.save({"model": g_state, "iteration": 1}, tmp_path / "f0G40k.pth")
    torch.save({"model": to_reference_keys(base.net_d.state_dict()), "iteration": 1}, tmp_path / "f0D40k.pth")
    tuned = VoiceTrainer(kit["items"], TINY_TRAIN_CONFIG,
                         tiny_options(pretrained_g=str(tmp_path / "f0G40k.pth"),
                                      pretrained_d=str(tmp_path / "f0D40k.pth")), tmp_path / "tuned")
    state = tuned.net_g.state_dict()
    assert torch.all(state["enc_p.emb_phone.weight"] == 0.125)
    torch.testing.assert_close(state["dec.ups.0.parametrizations.weight.original1"],
                               base.net_g.state_dict()["dec.ups.0.parametrizations.weight.original1"])
    torch.testing.assert_close(tuned.net_d.state_dict()["discriminators.1.convs.0.parametrizations.weight.original1"],
                               base.net_d.state_dict()["discriminators.1.convs.0.parametrizations.weight.original1"])
    g_state["enc_p.emb_phone.weight"] = torch.zeros(8, 256)  # a v1 base
    torch.save({"model": g_state}, tmp_path / "v1G.pth")
    with pytest.raises(TrainingRefused) as info:
        VoiceTrainer(kit["items"], TINY_TRAIN_CONFIG, tiny_options(pretrained_g=str(tmp_path / "v1G.pth")),
                     tmp_path / "wrong")
    assert info.value.key == "train_voice.pretrained_wrong_version"
    assert not (tmp_path / "wrong").exists()


def test_overtraining_warning_needs_rising_validation(kit, tmp_path):
    trainer = VoiceTrainer(kit["items"], TINY_TRAIN_CONFIG, tiny_options(), tmp_path / "ot")
    trainer.history["val"] = [{"mel": v} for v in (3.0, 2.0, 2.1, 2.2)]
    assert not trainer.overtraining()
    trainer.history["val"].append({"mel": 2.3})
    assert trainer.overtraining()


def test_clipped_audio_is_rejected():
    x = speechy(4.0, seed=3)
    assert not is_clipped(x[:48000])
    assert is_clipped(np.clip(x[:48000] * 6, -0.5, 0.5))


# -- the flow on a book's voice: consent, refusals that write nothing, a published model -------
def _voice_with(services, tmp_path, *clips, consent=CONSENT):
    book = services.store.create("owner-a", "Grandma's book")
    from studio.narrate import create_voice
    voice = create_voice(services, "owner-a", book.id, "Grandma")
    recordings = [Recording(audio=services.store.media_for("owner-a").put_bytes(audiolib.wav_bytes(c, audiolib.WORK_SR), "wav"),
                            original_name=f"r{i}.wav") for i, c in enumerate(clips)]

    def change(b):
        v = b.voice(voice.id)
        v.recordings = recordings
        v.consent = consent

    services.store.update("owner-a", book.id, change)
    return book.id, voice.id


@pytest.mark.parametrize("case, key", [
    ("no_recordings", "train_voice.no_recordings"), ("silence", "train_voice.only_silence"),
    ("short", "train_voice.too_little_speech"), ("no_consent", "train_voice.no_consent")])
def test_bad_data_is_refused_and_nothing_is_written(kit, tmp_path, case, key):
    from studio.services import build_services
    services = build_services(Settings(data_dir=tmp_path / "data", mode="local", hubert_model=str(kit["hubert"])))
    clips = {"no_recordings": (), "silence": (np.zeros(5 * audiolib.WORK_SR, np.float32),),
             "short": (speechy(20.0),), "no_consent": (speechy(20.0),)}[case]
    book_id, voice_id = _voice_with(services, tmp_path, *clips, consent=None if case == "no_consent" else CONSENT)
    with pytest.raises(TrainingRefused) as info:
        list(train_voice(services, "owner-a", book_id, voice_id, TrainRequest(config=TINY_TRAIN_CONFIG)))
    assert info.value.key == key and str(info.value) != key  # an English message, not the bare key
    assert info.value.render("ko") != str(info.value)
    assert not feature_cache_dir(services.settings, "owner-a", voice_id).exists()
    assert not any((tmp_path / "data" / "owners").rglob("train_voice"))
    services.close()


def test_training_a_voice_makes_it_the_voices_model(kit, tmp_path):
    from studio.services import build_services
    services = build_services(Settings(data_dir=tmp_path / "data", mode="local", hubert_model=str(kit["hubert"])))
    book_id, voice_id = _voice_with(services, tmp_path, speechy(20.0))
    samples = []

    def sample(epoch, model):
        samples.append(epoch)
        return model.sample_rate

    request = TrainRequest(config=TINY_TRAIN_CONFIG, min_speech_s=5,
                           options=tiny_options(epochs=1, sample_every=1, batch_size=4))
    events = list(train_voice(services, "owner-a", book_id, voice_id, request, sample_fn=sample))
    kinds = [e.payload["event"] for e in events]
    assert kinds[:2] == ["survey", "features"] and kinds[-2:] == ["done", "published"]
    assert "sample" in kinds and samples == [1] and "eval" in kinds
    voice = services.store.get("owner-a", book_id).voice(voice_id)
    assert voice.converter == "rvc" and set(voice.model_files) == {"pth", "index"}
    loaded = load_model(services.store.media_for("owner-a").path(voice.model_files["pth"]))
    assert loaded.sample_rate == 40000 and "Minji" in loaded.info
    services.close()
