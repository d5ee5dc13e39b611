"""Where models run and which memory savers they use: pure decisions of (device, memory, size),
tested without a GPU."""
from __future__ import annotations

import pytest

from studio.backends.base import BackendError
from studio.backends.sd_loading import pretrained_kwargs, wants_fp16_variant
from studio.backends.torch_device import GIB, memory_plan, needs_vae_tiling, resolve_device, voice_placement


def test_big_gpus_use_fused_attention_without_slicing_or_offload():
    assert memory_plan("cuda", 80 * GIB) == memory_plan("cuda", 24 * GIB) == memory_plan("cuda", 12 * GIB)
    assert not memory_plan("cuda", 12 * GIB).slicing and not memory_plan("cuda", 12 * GIB).offload
    assert memory_plan("cuda", 8 * GIB).offload and not memory_plan("cuda", 8 * GIB).slicing
    assert memory_plan("cuda", 4 * GIB).slicing and memory_plan("cuda", 4 * GIB).offload
    assert memory_plan("mps", 16 * GIB).slicing and not memory_plan("mps", 128 * GIB).slicing
    assert memory_plan("cpu", 0) == memory_plan("cpu", 64 * GIB)


def test_vae_tiling_only_when_the_pictures_would_not_fit():
    assert not needs_vae_tiling("cuda", 8 * GIB, 512, 512)  # an ordinary page
    assert not needs_vae_tiling("cuda", 24 * GIB, 1024, 1024, batch=4)
    assert needs_vae_tiling("cuda", 8 * GIB, 1024, 1024, batch=4)
    assert needs_vae_tiling("cuda", 4 * GIB, 1536, 1536)
    assert not needs_vae_tiling("cpu", 0, 1536, 1536, batch=8)  # system memory: no tiling on the CPU


def test_fp16_variant_only_when_the_repo_has_it_and_it_will_be_used():
    files = ["model_index.json", "unet/diffusion_pytorch_model.fp16.safetensors", "unet/config.json"]
    assert wants_fp16_variant(files, half_precision=True)
    assert not wants_fp16_variant(files, half_precision=False)  # CPU float32: the full weights
    assert not wants_fp16_variant(["unet/diffusion_pytorch_model.safetensors"], half_precision=True)
    sd15 = {"_class_name": "StableDiffusionPipeline", "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"]}
    assert pretrained_kwargs(sd15, files, True) == {"safety_checker": None, "requires_safety_checker": False,
                                                    "variant": "fp16"}
    assert pretrained_kwargs({"_class_name": "StableDiffusionXLPipeline"}, [], False) == {}


@pytest.mark.parametrize("setting, cuda, mps, model, expected", [
    ("auto", True, False, "hubert", ("cuda", "float16")),
    ("auto", True, False, "rvc", ("cuda", "float16")),
    ("auto", True, False, "rmvpe", ("cuda", "float32")),
    ("auto", True, False, "vits", ("cuda", "float32")),
    ("auto", False, True, "hubert", ("mps", "float32")),
    ("auto", False, False, "crepe", ("cpu", "float32")),
    ("cpu", True, False, "rvc", ("cpu", "float32")),
])
def test_voice_models_follow_the_one_device_setting(setting, cuda, mps, model, expected):
    assert voice_placement(setting, model, cuda, mps) == expected


def test_voice_device_setting_errors_are_clear():
    with pytest.raises(BackendError, match="no CUDA GPU"):
        voice_placement("cuda", "rvc", cuda=False, mps=False)
    with pytest.raises(BackendError, match="auto, cpu, cuda or mps"):
        voice_placement("tpu", "rvc", cuda=False, mps=False)


def test_one_device_choice_for_pictures_and_voices():
    assert [resolve_device("auto", cuda, mps) for cuda, mps in ((True, True), (False, True), (False, False))] == \
        ["cuda", "mps", "cpu"]
    assert resolve_device("CPU", cuda=True, mps=True) == "cpu" and resolve_device("", False, False) == "cpu"
    for setting, key in (("mps", "models.device_no_mps"), ("cuda", "models.device_no_cuda"),
                         ("tpu", "models.device_unknown")):
        with pytest.raises(BackendError) as refused:
            resolve_device(setting, cuda=False, mps=False)
        assert refused.value.key == key
