"""Hub models are downloaded at start (before a ZeroGPU turn needs them) exactly when the one
source check says they will be downloaded on first use: a fake hub cache, a fake downloader,
HF_HUB_OFFLINE set and unset, a failure reported in both languages, the Settings tab showing it."""
from __future__ import annotations

import json
import threading

import pytest

from studio import model_warmup
from studio.config import Settings
from studio.model_warmup import HubModel, ModelWarmup, download_source, models_to_download
from ui_helpers import client_in

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _cache_repo(cache, repo: str, files: dict[str, str]) -> None:
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    for name, text in files.items():
        (root / "snapshots" / COMMIT / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "snapshots" / COMMIT / name).write_text(text)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    _cache_repo(cache, "family/sd-cached", {"model_index.json": json.dumps({"_class_name": "StableDiffusionPipeline"})})
    _cache_repo(cache, "family/hubert-cached", {"config.json": "{}"})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    local = tmp_path / "local-depth"
    local.mkdir()
    (local / "config.json").write_text("{}")
    return Settings(data_dir=tmp_path / "data", sd_model="family/sd-new", controlnet_openpose="family/openpose-new",
                    controlnet_depth="family/sd-new",  # named twice: fetched once
                    vits_model_ko="facebook/mms-tts-kor", hubert_model="family/hubert-cached",
                    depth_model=str(local), pose_model="")


def _fake(fetched, fail=()):
    def download(model: HubModel, settings) -> None:
        fetched.append(model.source)
        if model.source in fail:
            raise OSError(f"Connection reset while fetching {model.source}\nTraceback lines nobody needs")
    return download


def test_uncached_hub_models_are_downloaded_at_start_in_the_background(hub):
    fetched = []
    gate = threading.Event()
    slow = _fake(fetched)
    warmup = ModelWarmup(hub, download=lambda model, settings: gate.wait(5) and slow(model, settings))
    assert [(d.model.source, d.model.kind, d.state) for d in warmup.downloads()] == [
        ("family/sd-new", "pipeline", "waiting"), ("family/openpose-new", "diffusers", "waiting"),
        ("facebook/mms-tts-kor", "transformers", "waiting")]  # cached, local and unset ones are left alone
    warmup.start()
    assert not gate.is_set() and warmup.downloads()[0].state == "downloading"  # start() did not wait for it
    assert "Downloading the model family/sd-new now" in warmup.messages("en")[0]
    gate.set()
    assert warmup.wait(10)
    assert fetched == ["family/sd-new", "family/openpose-new", "facebook/mms-tts-kor"]
    assert [d.state for d in warmup.downloads()] == ["done"] * 3
    assert warmup.messages("en")[2] == "Model facebook/mms-tts-kor: downloaded and ready."
    assert "다 내려받아서" in warmup.messages("ko")[2]


def test_offline_nothing_is_attempted(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fetched = []
    warmup = ModelWarmup(hub, download=_fake(fetched)).start()
    assert warmup.wait(1) and warmup.downloads() == [] and fetched == [] and warmup._thread is None
    assert models_to_download(hub) == []


def test_a_failed_download_says_so_and_the_others_go_on(hub):
    fetched = []
    warmup = ModelWarmup(hub, download=_fake(fetched, fail=("family/openpose-new",))).start()
    assert warmup.wait(10)
    assert fetched == ["family/sd-new", "family/openpose-new", "facebook/mms-tts-kor"]
    failed = warmup.downloads()[1]
    assert failed.state == "failed" and failed.detail == "Connection reset while fetching family/openpose-new"
    assert warmup.messages("en")[1] == ("The model family/openpose-new could not be downloaded (Connection reset "
                                        "while fetching family/openpose-new). It will be tried again when a page "
                                        "first needs it.")
    assert "내려받지 못했어요" in warmup.messages("ko")[1] and "family/openpose-new" in warmup.messages("ko")[1]
    assert [d.state for d in warmup.downloads()] == ["done", "failed", "done"]


def test_only_the_files_the_loaders_read_are_fetched(hub, monkeypatch):
    import diffusers
    import huggingface_hub

    calls = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, **kw: calls.append((repo, kw)))
    monkeypatch.setattr(diffusers.DiffusionPipeline, "download",
                        classmethod(lambda cls, repo, **kw: calls.append((repo, kw))))
    files = {"family/openpose-new": ["config.json", "diffusion_pytorch_model.safetensors",
                                     "diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.bin"],
             "facebook/mms-tts-kor": ["config.json", "model.safetensors", "pytorch_model.bin", "vocab.json"],
             "family/old-bin": ["config.json", "pytorch_model.bin"]}
    monkeypatch.setattr("studio.backends.sd_loading.repo_files", lambda source: files.get(source, []))
    monkeypatch.setattr("studio.backends.sd_loading.model_index", lambda source: {"safety_checker": ["x", "y"]})
    hub.device = "cpu"
    for source, kind in [("family/sd-new", "pipeline"), ("family/openpose-new", "diffusers"),
                         ("facebook/mms-tts-kor", "transformers"), ("family/old-bin", "transformers")]:
        download_source(HubModel("x", source, kind), hub)
    cache = str(hub.data_dir.parent / "hub")
    assert calls[0] == ("family/sd-new", {"cache_dir": cache, "safety_checker": None})  # no checker, fp32 on a CPU
    assert calls[1][1]["allow_patterns"] == ["config.json", "diffusion_pytorch_model.safetensors"]
    assert calls[2][1]["allow_patterns"] == model_warmup.TRANSFORMERS_FILES + ["*.safetensors"]
    assert calls[3][1]["allow_patterns"] == model_warmup.TRANSFORMERS_FILES + ["*.bin"]
    assert all(kw["cache_dir"] == cache for _, kw in calls)


def test_settings_tab_shows_the_downloads_in_the_visitors_language(launch_app, hub, monkeypatch):
    warmup = ModelWarmup(hub, download=_fake([], fail=("facebook/mms-tts-kor",))).start()
    assert warmup.wait(10)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the app itself runs offline, as every app test does
    url, services = launch_app()
    assert client_in(url, "en-US").predict(api_name="/model_downloads") == ""  # nothing configured to fetch
    services.warmup = warmup
    english = client_in(url, "en-US").predict(api_name="/model_downloads")
    assert "- Model family/sd-new: downloaded and ready." in english
    assert "The model facebook/mms-tts-kor could not be downloaded" in english
    korean = client_in(url, "ko-KR").predict(api_name="/model_downloads")
    assert "facebook/mms-tts-kor 모델을 내려받지 못했어요" in korean
