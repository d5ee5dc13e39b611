"""RVC files as the community has them, through the real loading code: v1 and v2, with and
without pitch, 32k/40k/48k, written by the original WebUI or by Applio (its extra keys and the
newer weight-norm names); a v1 model with ContentVec named by hub id through the one source
check; the default pitch method."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from studio.backends.base import Audio
from studio.backends.model_sources import TRANSFORMERS_MARKERS, check_source
from studio.backends.rvc import RvcConverter, rmvpe
from studio.backends.rvc.checkpoint import load_model
from studio.config import Settings
from tiny_voice import make_hubert, make_rvc_pth, speech_like, tiny_rvc_config

LAYOUTS = [(version, f0, rate) for version in ("v1", "v2") for f0 in (True, False) for rate in (32000, 40000, 48000)]


@pytest.fixture(scope="module")
def contentvec(tmp_path_factory):
    """HuBERT with ContentVec's final_proj (768 -> 256): v2 reads the last layer, v1 the projection."""
    return make_hubert(tmp_path_factory.mktemp("contentvec") / "contentvec", final_proj=256)


def _convert(converter, pth, seconds=0.6):
    source = Audio(speech_like(seconds, 16000, 190.0), 16000)
    return converter.convert(source, model_path=str(pth), index_rate=0.0, f0_method="pm")


@pytest.mark.parametrize("version, use_f0, rate", LAYOUTS)
def test_every_rvc_layout_loads_and_converts(contentvec, tmp_path, version, use_f0, rate):
    pth = make_rvc_pth(tmp_path / "voice.pth", version=version, config=tiny_rvc_config(rate), use_f0=use_f0)
    model = load_model(pth)
    assert (model.version, model.use_f0, model.sample_rate) == (version, use_f0, rate)
    assert model.synthesizer.feature_dim == (256 if version == "v1" else 768)
    assert model.synthesizer.samples_per_frame == rate // 100
    converter = RvcConverter(Settings(data_dir=tmp_path / "data", hubert_model=str(contentvec)))
    out = _convert(converter, pth)
    assert out.sample_rate == rate and abs(out.duration_s - 0.6) < 0.011
    assert np.isfinite(out.samples).all() and np.abs(out.samples).max() > 0


@pytest.mark.parametrize("version, use_f0, rate", [("v2", True, 48000), ("v1", False, 32000)])
def test_applio_file_with_extra_keys_loads_like_the_webui_one(contentvec, tmp_path, version, use_f0, rate):
    layout = dict(seed=3, version=version, config=tiny_rvc_config(rate), use_f0=use_f0)
    webui = make_rvc_pth(tmp_path / "webui.pth", **layout)
    applio = make_rvc_pth(tmp_path / "applio.pth", writer="applio", **layout)
    saved = torch.load(applio, weights_only=True)
    assert saved["vocoder"] == "HiFi-GAN" and any("parametrizations" in k for k in saved["weight"])
    a, b = load_model(webui), load_model(applio)
    assert (b.version, b.use_f0, b.sample_rate) == (version, use_f0, rate)
    for key, value in a.synthesizer.state_dict().items():
        torch.testing.assert_close(b.synthesizer.state_dict()[key], value)
    converter = RvcConverter(Settings(data_dir=tmp_path / "data", hubert_model=str(contentvec)))
    np.testing.assert_allclose(_convert(converter, applio).samples, _convert(converter, webui).samples, atol=1e-5)


def _cache_repo(cache, repo, folder):
    commit = "f" * 40
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    shutil.copytree(folder, root / "snapshots" / commit)


def test_v1_with_contentvec_by_hub_id_goes_through_the_source_check(contentvec, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    _cache_repo(cache, "lengyue233/content-vec-best", contentvec)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pth = make_rvc_pth(tmp_path / "v1.pth", version="v1", config=tiny_rvc_config(40000))
    by_id = RvcConverter(Settings(data_dir=tmp_path / "a", hubert_model="lengyue233/content-vec-best"))
    assert by_id.available().ok
    assert check_source("lengyue233/content-vec-best", "S", TRANSFORMERS_MARKERS).key == "models.source_cached"
    by_folder = RvcConverter(Settings(data_dir=tmp_path / "b", hubert_model=str(contentvec)))
    assert by_id.features().final_proj is not None  # v1's projection found in the cached weights
    np.testing.assert_allclose(_convert(by_id, pth).samples, _convert(by_folder, pth).samples, atol=1e-6)
    missing = RvcConverter(Settings(data_dir=tmp_path / "c", hubert_model="someone/not-cached"))
    assert not missing.available().ok and "downloads are switched off" in missing.available().reason


def test_default_pitch_method_is_rmvpe_when_its_weights_are_set(tmp_path):
    assert rmvpe.default_f0_method("") == "pm"
    assert "rmvpe" in rmvpe.f0_default_note("") and rmvpe.f0_default_note("", "ko")
    weights = tmp_path / "rmvpe.pt"
    weights.write_bytes(b"weights")
    assert rmvpe.default_f0_method(str(weights)) == "rmvpe" and rmvpe.f0_default_note(str(weights)) == ""
