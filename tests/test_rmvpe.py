"""RMVPE pitch through the real loading code: the published layout (checked on the meta device,
no memory), a tiny network saved as a state dict like rmvpe.pt, safe loading, the setting's
messages, decoding, and a whole RVC conversion with f0_method="rmvpe"."""
from __future__ import annotations

import os
import pickle
import threading

import numpy as np
import pytest
import torch

from studio import narrate
from studio.backends.base import Audio, BackendError
from studio.backends.rvc import RvcConverter, pipeline, rmvpe
from studio.config import Settings
from tiny_voice import make_hubert, make_rvc_pth, speech_like

TINY = dict(blocks=1, depth=2, middle=1, width=4, gru_layers=1, gru_hidden=8)
LOWEST_HZ = 10 * 2 ** (rmvpe.BIN0_CENTS / 1200)  # bin 0, ~31.7 Hz
HIGHEST_HZ = 10 * 2 ** ((rmvpe.BIN0_CENTS + 20 * 359) / 1200)  # bin 359, ~2006 Hz


def _save_tiny(path, seed=0, half=True):
    torch.manual_seed(seed)
    state = rmvpe.build_network(**TINY).state_dict()
    torch.save({k: (v.half() if half and v.is_floating_point() else v) for k, v in state.items()}, path)
    return path


@pytest.fixture(scope="module")
def tiny_pt(tmp_path_factory):
    return str(_save_tiny(tmp_path_factory.mktemp("rmvpe") / "rmvpe.pt"))


def test_published_size_has_rmvpe_pt_names_and_shapes():
    with torch.device("meta"):  # shapes only, no weights allocated
        net = rmvpe.build_network()
    state = net.state_dict()
    expected = {  # names and shapes of RVC's assets/rmvpe/rmvpe.pt (E2E(4, 1, (2, 2)))
        "unet.encoder.bn.weight": (1,),
        "unet.encoder.bn.num_batches_tracked": (),
        "unet.encoder.layers.0.conv.0.conv.0.weight": (16, 1, 3, 3),
        "unet.encoder.layers.0.conv.0.conv.1.running_var": (16,),
        "unet.encoder.layers.0.conv.0.conv.3.weight": (16, 16, 3, 3),
        "unet.encoder.layers.0.conv.0.shortcut.weight": (16, 1, 1, 1),
        "unet.encoder.layers.0.conv.0.shortcut.bias": (16,),
        "unet.encoder.layers.0.conv.3.conv.4.weight": (16,),
        "unet.encoder.layers.4.conv.0.conv.0.weight": (256, 128, 3, 3),
        "unet.intermediate.layers.0.conv.0.conv.0.weight": (512, 256, 3, 3),
        "unet.intermediate.layers.0.conv.0.shortcut.weight": (512, 256, 1, 1),
        "unet.intermediate.layers.3.conv.3.conv.3.weight": (512, 512, 3, 3),
        "unet.decoder.layers.0.conv1.0.weight": (512, 256, 3, 3),
        "unet.decoder.layers.0.conv1.1.running_mean": (256,),
        "unet.decoder.layers.0.conv2.0.conv.0.weight": (256, 512, 3, 3),
        "unet.decoder.layers.0.conv2.0.shortcut.weight": (256, 512, 1, 1),
        "unet.decoder.layers.4.conv1.0.weight": (32, 16, 3, 3),
        "unet.decoder.layers.4.conv2.3.conv.4.bias": (16,),
        "cnn.weight": (3, 16, 3, 3),
        "cnn.bias": (3,),
        "fc.0.gru.weight_ih_l0": (768, 384),
        "fc.0.gru.weight_hh_l0": (768, 256),
        "fc.0.gru.bias_hh_l0_reverse": (768,),
        "fc.1.weight": (360, 512),
        "fc.1.bias": (360,),
    }
    for name, shape in expected.items():
        assert tuple(state[name].shape) == shape, name
    assert "unet.encoder.layers.0.conv.1.shortcut.weight" not in state  # only width changes get one
    assert "unet.encoder.layers.5.conv.0.conv.0.weight" not in state and "fc.2.weight" not in state
    assert len(state) == 741
    # ~90.4M weights: rmvpe.pt stores them in half precision, which is its ~181 MB
    assert sum(p.numel() for p in net.parameters()) == 90_423_165
    assert rmvpe.sizes_from_state(state) == dict(blocks=4, depth=5, middle=4, width=16, gru_layers=1,
                                                 gru_hidden=256)


def test_tiny_model_gives_one_pitch_per_10ms_frame(tiny_pt):
    x = speech_like(1.0, 16000, 180.0)
    f0 = rmvpe.rmvpe_f0(x, tiny_pt)
    assert f0.shape == (len(x) // 160 + 1,)
    assert np.all((f0 == 0) | ((f0 >= LOWEST_HZ - 1e-6) & (f0 <= HIGHEST_HZ + 1e-6)))
    assert LOWEST_HZ > 31 and HIGHEST_HZ < 2010
    frames = len(x) // pipeline.HOP
    through_pipeline = pipeline.extract_f0(x, frames, "rmvpe", rmvpe_model=tiny_pt)
    assert len(through_pipeline) == frames
    np.testing.assert_allclose(through_pipeline, f0[:frames])


def test_model_is_loaded_once_per_path_across_threads(tiny_pt, tmp_path):
    results = []
    threads = [threading.Thread(target=lambda: results.append(rmvpe.load_rmvpe(tiny_pt))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r is results[0] for r in results)
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in results[0].parameters())
    other = str(_save_tiny(tmp_path / "other.pt", seed=1))
    first = rmvpe.load_rmvpe(other)
    assert first is not results[0] and rmvpe.load_rmvpe(other) is first
    _save_tiny(other, seed=2)
    os.utime(other, ns=(1, 1))  # a replaced file is read again
    assert rmvpe.load_rmvpe(other) is not first


def test_safetensors_file_gives_the_same_pitch(tiny_pt, tmp_path):
    from safetensors.torch import save_file

    state = torch.load(tiny_pt, map_location="cpu", weights_only=True)
    path = tmp_path / "rmvpe.safetensors"
    save_file(state, str(path))
    x = speech_like(0.5, 16000, 220.0)
    np.testing.assert_array_equal(rmvpe.rmvpe_f0(x, str(path)), rmvpe.rmvpe_f0(x, tiny_pt))


class Payload:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (open, (self.sentinel, "w"))


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    sentinel = tmp_path / "pwned.txt"
    evil = tmp_path / "rmvpe.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"cnn.weight": Payload(str(sentinel))}, fh, protocol=2)
    with pytest.raises(BackendError, match="refused for safety"):
        rmvpe.load_rmvpe(str(evil))
    torch.save({"cnn.weight": Payload(str(sentinel))}, evil)  # torch's zip format too
    with pytest.raises(BackendError, match="refused for safety"):
        rmvpe.rmvpe_f0(speech_like(0.5), str(evil))
    assert not sentinel.exists()


def test_wrong_files_are_explained(tiny_pt, tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(BackendError, match="not readable"):
        rmvpe.load_rmvpe(str(text))
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(BackendError, match="not an RMVPE pitch model"):
        rmvpe.load_rmvpe(str(other))
    state = torch.load(tiny_pt, weights_only=True)
    state.pop("fc.1.bias")
    torch.save(state, other)
    with pytest.raises(BackendError, match="does not match RMVPE's layout"):
        rmvpe.load_rmvpe(str(other))
    state = torch.load(tiny_pt, weights_only=True)
    state["cnn.weight"] = torch.zeros(3, 5, 3, 3)
    torch.save(state, other)
    with pytest.raises(BackendError, match="does not match RMVPE's layout"):
        rmvpe.load_rmvpe(str(other))


def test_missing_setting_or_file_names_the_setting(tmp_path):
    with pytest.raises(BackendError, match="GIEOK_RMVPE_MODEL"):
        pipeline.extract_f0(speech_like(0.5), 50, "rmvpe", rmvpe_model="")
    with pytest.raises(BackendError, match="GIEOK_RMVPE_MODEL.*not found"):
        pipeline.extract_f0(speech_like(0.5), 50, "rmvpe", rmvpe_model=str(tmp_path / "gone.pt"))
    assert rmvpe.rmvpe_missing_reason(str(tmp_path / "gone.pt"))


def test_choosing_rmvpe_is_refused_up_front_without_the_model(services, tiny_pt):
    book = services.store.create("fam", "t")
    voice = narrate.create_voice(services, "fam", book.id, "v", "ko")
    with pytest.raises(ValueError, match="'rmvpe' is not available.*GIEOK_RMVPE_MODEL"):
        narrate.set_pipeline(services, "fam", book.id, voice.id, "espeak", "rvc", {"f0_method": "rmvpe"})
    assert "f0_method" not in services.store.get("fam", book.id).voice(voice.id).conversion
    services.settings.rmvpe_model = tiny_pt
    narrate.set_pipeline(services, "fam", book.id, voice.id, "espeak", "rvc", {"f0_method": "rmvpe"})
    assert services.store.get("fam", book.id).voice(voice.id).conversion["f0_method"] == "rmvpe"


def test_salience_decoding_is_a_local_average_in_cents():
    sal = np.zeros((5, 360))
    sal[0, 100] = 0.9  # one bin: its own pitch
    sal[1, 200] = sal[1, 201] = 0.5  # two equal bins: halfway in cents
    sal[2, 50] = 0.02  # weak peak: unvoiced
    sal[3, 0] = 0.8  # lowest bin, window reaching past the edge
    sal[3, 300] = 0.1  # far bins do not pull the average
    sal[4, 95:106] = 0.4  # a plateau: only the 4 bins each side of the peak count
    sal[4, 100], sal[4, 105] = 0.9, 0.5
    hz = rmvpe.salience_to_hz(sal)
    cents = lambda b: rmvpe.BIN0_CENTS + 20 * b  # noqa: E731
    np.testing.assert_allclose(hz[0], 10 * 2 ** (cents(100) / 1200))
    np.testing.assert_allclose(hz[1], 10 * 2 ** (cents(200.5) / 1200))
    assert hz[2] == 0
    np.testing.assert_allclose(hz[3], LOWEST_HZ)
    np.testing.assert_allclose(hz[4], 10 * 2 ** (cents(100) / 1200))


def test_log_mel_peaks_at_the_tone_frequency():
    t = np.arange(16000) / 16000
    mel = rmvpe.log_mel((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))[0].numpy()
    assert mel.shape == (128, 101)
    bank = rmvpe.mel_filterbank()
    freqs = np.linspace(0, 8000, 513)
    centres = freqs[bank.argmax(axis=1)]
    assert np.all(np.diff(centres) >= 0) and 20 < centres[0] < 60 and centres[-1] > 7500
    peak = int(np.median(mel.argmax(axis=0)))
    assert abs(centres[peak] - 1000) < 40
    assert mel.min() >= np.log(rmvpe.LOG_FLOOR) - 1e-6
    # Slaney normalisation: each triangle has unit area in Hz (checked where they span many bins)
    np.testing.assert_allclose(bank[60:].sum(axis=1) * (8000 / 512), 1.0, rtol=0.03)


def test_unet_pools_by_averaging_and_joins_upsampled_features_then_skips(tiny_pt):
    net = rmvpe.load_rmvpe(tiny_pt)
    seen = {}
    hooks = [net.unet.encoder.layers[0].register_forward_hook(lambda m, i, o: seen.update(first=o)),
             net.unet.encoder.layers[1].register_forward_pre_hook(lambda m, i: seen.update(second_in=i[0])),
             net.unet.encoder.layers[-1].register_forward_hook(lambda m, i, o: seen.update(skip=o)),
             net.unet.decoder.layers[0].conv1.register_forward_hook(lambda m, i, o: seen.update(up=o)),
             net.unet.decoder.layers[0].conv2[0].register_forward_pre_hook(lambda m, i: seen.update(joined=i[0])),
             net.cnn.register_forward_hook(lambda m, i, o: seen.update(cnn=o)),
             net.fc[0].register_forward_pre_hook(lambda m, i: seen.update(gru_in=i[0]))]
    try:
        with torch.inference_mode():
            net(rmvpe.log_mel(speech_like(0.3))[..., :28])
    finally:
        for h in hooks:
            h.remove()
    torch.testing.assert_close(seen["second_in"], torch.nn.functional.avg_pool2d(seen["first"], 2))
    half = seen["up"].shape[1]
    assert seen["skip"].shape[1] == half and seen["joined"].shape[1] == 2 * half
    torch.testing.assert_close(seen["joined"][:, :half], seen["up"])
    torch.testing.assert_close(seen["joined"][:, half:], seen["skip"])
    # the GRU sees, per frame, the 3 channels one after another, each all 128 mel bins
    torch.testing.assert_close(seen["gru_in"][0, 7, 128 + 5], seen["cnn"][0, 1, 7, 5])
    torch.testing.assert_close(seen["gru_in"][0, 3, 2 * 128 + 100], seen["cnn"][0, 2, 3, 100])


@pytest.fixture(scope="module")
def rvc_kit(tmp_path_factory, tiny_pt):
    root = tmp_path_factory.mktemp("rvc_rmvpe")
    hubert, pth = make_hubert(root / "hubert"), make_rvc_pth(root / "tiny.pth")
    return root, hubert, pth


def test_rvc_conversion_with_rmvpe_has_the_expected_length(rvc_kit, tiny_pt):
    root, hubert, pth = rvc_kit
    converter = RvcConverter(Settings(data_dir=root / "data", hubert_model=str(hubert), rmvpe_model=tiny_pt))
    source = Audio(speech_like(1.5, 22050, 180.0), 22050)
    out = converter.convert(source, model_path=str(pth), f0_method="rmvpe", rms_mix_rate=1.0)
    assert out.sample_rate == 40000 and abs(out.duration_s - 1.5) < 0.011
    assert np.isfinite(out.samples).all() and np.abs(out.samples).max() > 0
    with_pm = converter.convert(source, model_path=str(pth), f0_method="pm", rms_mix_rate=1.0)
    assert np.abs(with_pm.samples - out.samples).mean() > 1e-6  # the pitch really came from RMVPE
    # a voice's stored options cannot point the converter at another file
    again = converter.convert(source, model_path=str(pth), f0_method="rmvpe", rms_mix_rate=1.0,
                              rmvpe_model="/nonexistent.pt")
    np.testing.assert_array_equal(again.samples, out.samples)


def test_rvc_conversion_without_the_setting_says_which(rvc_kit):
    root, hubert, pth = rvc_kit
    converter = RvcConverter(Settings(data_dir=root / "data", hubert_model=str(hubert)))
    with pytest.raises(BackendError, match="GIEOK_RMVPE_MODEL"):
        converter.convert(Audio(speech_like(1.0, 16000), 16000), model_path=str(pth), f0_method="rmvpe")


def test_mel_is_padded_with_zeros_like_the_published_rmvpe(tiny_pt):
    """The last frames depend on the padding: zeros (the published mel2hidden), not reflection."""
    net = rmvpe.load_rmvpe(tiny_pt)
    x = speech_like(0.41, 16000, 210.0)  # 42 frames: 2 padding frames for a depth-2 U-Net
    mel = rmvpe.log_mel(x)
    frames = mel.shape[-1]
    padded = rmvpe.pad_frames(mel, 2 ** net.depth)
    assert padded.shape[-1] % 4 == 0 and padded.shape[-1] > frames
    assert torch.equal(padded[..., frames:], torch.zeros_like(padded[..., frames:]))
    assert torch.equal(padded[..., :frames], mel)
    with torch.inference_mode():
        reference = net(torch.nn.functional.pad(mel, (0, padded.shape[-1] - frames)))[0, :frames].numpy()
        reflected = net(torch.nn.functional.pad(mel, (0, padded.shape[-1] - frames), mode="reflect"))[0, :frames].numpy()
    np.testing.assert_allclose(rmvpe.rmvpe_f0(x, tiny_pt), rmvpe.salience_to_hz(reference))
    assert np.abs(reference[-2:] - reflected[-2:]).max() > 1e-6  # the end frames are where they differ
    assert rmvpe.pad_frames(mel[..., :40], 4).shape[-1] == 40  # already a multiple: unchanged
