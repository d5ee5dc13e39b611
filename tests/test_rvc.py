"""RVC inference through the real loading code on a tiny random v2 model, a tiny HuBERT and a
small faiss index; and a hostile .pth that must be refused without running its payload."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from studio.backends.base import Audio, BackendError
from studio.backends.rvc import RvcConverter
from studio.backends.rvc.checkpoint import ModelFileError, fold_weight_norm, load_model
from studio.backends.rvc.pipeline import coarse_pitch
from studio.config import Settings
from tiny_voice import make_hubert, make_index, make_rvc_pth, speech_like


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    root = tmp_path_factory.mktemp("rvc")
    hubert = make_hubert(root / "hubert")
    pth = make_rvc_pth(root / "tiny.pth")
    index = make_index(root / "tiny.index")
    converter = RvcConverter(Settings(data_dir=root / "data", hubert_model=str(hubert)))
    return converter, pth, index, root


def test_conversion_has_expected_length_and_rate(kit):
    converter, pth, index, _ = kit
    assert converter.available().ok
    source = Audio(speech_like(2.5, 22050, 180.0), 22050)
    out = converter.convert(source, model_path=str(pth), index_path=str(index), index_rate=0.5, transpose=3)
    assert out.sample_rate == 40000
    assert abs(out.duration_s - 2.5) < 0.011  # within one 10 ms frame
    assert np.isfinite(out.samples).all() and 0 < np.abs(out.samples).max() <= 1.0
    assert converter.loads == 1


def test_index_rate_changes_the_result_and_same_settings_repeat(kit):
    converter, pth, index, _ = kit
    source = Audio(speech_like(1.5, 16000, 200.0), 16000)
    run = lambda rate: converter.convert(source, model_path=str(pth), index_path=str(index),  # noqa: E731
                                         index_rate=rate, rms_mix_rate=1.0).samples
    zero, one, zero_again = run(0.0), run(1.0), run(0.0)
    np.testing.assert_array_equal(zero, zero_again)
    assert np.abs(zero - one).mean() > 1e-6
    assert converter.loads == 1  # the model stays loaded across calls


def test_model_reloads_only_for_a_different_file(kit):
    converter, pth, _, root = kit
    source = Audio(speech_like(1.0, 16000), 16000)
    before = converter.loads
    converter.convert(source, model_path=str(pth))
    other = make_rvc_pth(root / "other.pth", seed=1)
    b = converter.convert(source, model_path=str(other))
    assert converter.loads == before + 1 and len(b.samples) == 40000


def test_long_speech_is_converted_in_pieces_of_the_right_total_length(kit):
    converter, pth, index, _ = kit
    from studio.backends.rvc import pipeline
    model, features = converter.model(pth), converter.features()
    x = speech_like(5.0, 16000, 190.0)
    out, rate = pipeline.convert(x, 16000, model, features, pipeline.ConversionOptions(), max_chunk_s=2.0)
    assert rate == 40000 and abs(len(out) / rate - 5.0) < 0.04


def test_checkpoint_layout_matches_rvc_names(kit):
    _, pth, _, _ = kit
    ckpt = torch.load(str(pth), weights_only=True)
    assert {"weight", "config", "f0", "version"} <= set(ckpt)
    assert any(k.endswith("weight_g") for k in ckpt["weight"])
    for name in ("enc_p.emb_phone.weight", "enc_p.emb_pitch.weight", "enc_p.encoder.attn_layers.0.emb_rel_k",
                 "flow.flows.0.enc.cond_layer.weight", "dec.m_source.l_linear.weight", "dec.noise_convs.0.weight",
                 "emb_g.weight"):
        assert name in ckpt["weight"], name
    model = load_model(pth)
    assert model.version == "v2" and model.use_f0 and model.sample_rate == 40000


def test_weight_norm_fold_matches_torch():
    conv = torch.nn.utils.weight_norm(torch.nn.Conv1d(4, 6, 3))
    state = {f"c.{k}": v for k, v in conv.state_dict().items()}
    folded = fold_weight_norm(state)
    conv.eval()
    torch.testing.assert_close(folded["c.weight"], conv.weight.detach())


def test_coarse_pitch_bins():
    bins = coarse_pitch(np.array([0.0, 50.0, 1100.0, 220.0]))
    assert list(bins[:3]) == [1, 1, 255] and 1 < bins[3] < 255


class Payload:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (open, (self.sentinel, "w"))


def test_malicious_pickle_is_refused_and_never_runs(kit, tmp_path):
    converter, _, _, _ = kit
    sentinel = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as fh:
        pickle.dump({"weight": {}, "config": [], "x": Payload(str(sentinel))}, fh)
    with pytest.raises(ModelFileError, match="refused"):
        load_model(evil)
    with pytest.raises(BackendError, match="refused"):
        converter.convert(Audio(speech_like(1.0, 16000), 16000), model_path=str(evil))
    assert not sentinel.exists()
    torch.save({"weight": {}, "config": [], "x": Payload(str(sentinel))}, evil)  # zip format too
    with pytest.raises(ModelFileError, match="refused"):
        load_model(evil)
    assert not sentinel.exists()


def test_wrong_files_are_explained(kit, tmp_path):
    _, pth, _, _ = kit
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not a readable"):
        load_model(text)
    training = tmp_path / "G_2333.pth"
    torch.save({"model": {"a": torch.zeros(1)}, "iteration": 1}, training)
    with pytest.raises(ModelFileError, match="training G_"):
        load_model(training)
    wrong_dim = make_index(tmp_path / "v1.index", dim=256)
    from studio.backends.rvc.checkpoint import read_index
    with pytest.raises(ModelFileError, match="different model version"):
        read_index(wrong_dim, 768)
