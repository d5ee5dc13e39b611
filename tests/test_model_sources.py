"""One source check for every backend: a fake hub cache (laid out like the real one) with
HF_HUB_OFFLINE set and unset; every backend agrees on what is usable and why."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.backends.model_sources import check_source, load_kwargs
from studio.config import Settings

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _cache_repo(cache: Path, repo: str, files: dict[str, str]) -> None:
    """models--owner--name/{refs/main, snapshots/<commit>/<files>}: what huggingface_hub writes."""
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    for name, text in files.items():
        target = root / "snapshots" / COMMIT / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    _cache_repo(cache, "family/sd-cached", {"model_index.json": json.dumps({"_class_name": "StableDiffusionXLPipeline"}),
                                            "unet/config.json": json.dumps({"addition_embed_type": "text_time"})})
    for repo in ("family/tts-cached", "family/hubert-cached", "family/pose-cached", "family/depth-cached"):
        _cache_repo(cache, repo, {"config.json": "{}"})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def _backends(settings: Settings) -> dict:
    from studio.backends.depth_transformers import TransformersDepth
    from studio.backends.diffusers_sd import DiffusersIllustrator
    from studio.backends.pose_transformers import VitPoseDetector
    from studio.backends.rvc import RvcConverter
    from studio.backends.tts_vits import VitsSpeaker

    return {"diffusers": DiffusersIllustrator(settings), "vits": VitsSpeaker(settings), "rvc": RvcConverter(settings),
            "pose": VitPoseDetector(settings), "depth": TransformersDepth(settings)}


def _settings(tmp_path, state: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", sd_model=f"family/sd-{state}", vits_model_ko=f"family/tts-{state}",
                    hubert_model=f"family/hubert-{state}", pose_model=f"family/pose-{state}",
                    depth_model=f"family/depth-{state}")


@pytest.mark.parametrize("offline", [True, False])
def test_every_backend_agrees_on_cached_and_missing_hub_models(hub, tmp_path, monkeypatch, offline):
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    cached = {name: b.available() for name, b in _backends(_settings(tmp_path, "cached")).items()}
    assert all(status.ok for status in cached.values()), cached
    absent = {name: b.available() for name, b in _backends(_settings(tmp_path, "absent")).items()}
    if offline:
        assert not any(status.ok for status in absent.values()), absent
        assert all("not downloaded yet and downloads are switched off" in s.reason for s in absent.values()), absent
    else:  # the hub is allowed: a model that is not cached yet is downloaded on first use
        assert all(status.ok for status in absent.values()), absent
        assert "downloaded on first use" in absent["diffusers"].reason
    assert load_kwargs("family/tts-absent")["local_files_only"] is offline
    assert load_kwargs("family/tts-absent")["cache_dir"] == str(hub)


def test_source_kinds_and_reasons(tmp_path, hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert check_source("", "GIEOK_SD_MODEL").key == "models.source_unset"
    assert check_source(str(tmp_path / "gone"), "S").key == "models.source_folder_missing"
    (tmp_path / "empty").mkdir()
    assert check_source(str(tmp_path / "empty"), "S").key == "models.source_folder_incomplete"
    (tmp_path / "model.ckpt").write_bytes(b"x")
    assert check_source(str(tmp_path / "model.ckpt"), "S").key == "models.source_file_kind"  # never unpickled
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert check_source(str(tmp_path / "model.safetensors"), "S").usable
    assert not check_source(str(tmp_path / "model.safetensors"), "S", single_file=False).usable
    hit = check_source("family/sd-cached", "S")
    assert (hit.kind, hit.usable, hit.downloads) == ("hub", True, False) and "내려받아" in hit.reason("ko")


def test_family_of_a_cached_hub_model_is_read_from_the_cache(hub, tmp_path, monkeypatch):
    from studio.backends.diffusers_sd import DiffusersIllustrator
    from studio.backends.model_family import Family

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert DiffusersIllustrator(_settings(tmp_path, "cached")).family() == Family("sdxl")
