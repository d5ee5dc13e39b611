"""Single-file checkpoints (original LDM layout, as model sites ship them) load offline through a
local config folder; the shipped config folders describe the real SD 1.5 / SDXL models."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from studio import illustrate
from studio.backends.base import BackendError
from studio.backends import clip_vocab
from studio.backends.clip_vocab import complete_config_folder, write_tokenizer_files
from studio.backends.sd_loading import MODEL_CONFIGS
from studio.book import ImageSpec, Page
from studio.config import Settings
from studio.services import build_services
from tiny_sd import build_pipeline, write_ldm_checkpoint


@pytest.fixture(scope="module")
def single_file(tmp_path_factory):
    """A tiny pipeline that reads the real CLIP vocabulary, as one file and as a diffusers folder."""
    root = tmp_path_factory.mktemp("single_file")
    write_tokenizer_files(root / "clip_tokenizer")
    shutil.copyfile(MODEL_CONFIGS / "sd15" / "tokenizer" / "tokenizer_config.json",
                    root / "clip_tokenizer" / "tokenizer_config.json")
    pipe = build_pipeline(root / "parts", tokenizer_folder=root / "clip_tokenizer")
    pipe.save_pretrained(root / "config", safe_serialization=True)  # the folder a family would point at
    return write_ldm_checkpoint(pipe, root / "downloads" / "storybook-v1.safetensors"), root / "config"


def _config_without_vocabulary(config, target):
    """The family's own config folder with its tokenizer's vocabulary left out (only configs)."""
    for path in config.rglob("*.json"):
        (target / path.relative_to(config)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / path.relative_to(config))
    for name in ("tokenizer.json", "vocab.json", "merges.txt"):
        (target / "tokenizer" / name).unlink(missing_ok=True)
    return target


def _render(services, book):
    page = book.pages[0]
    spec = illustrate.final_spec(book, page, page.image, 5)
    image, _ = illustrate.render(services, book, page, spec)
    return np.asarray(image).astype(int)


def _services(tmp_path, source):
    services = build_services(Settings(data_dir=tmp_path / "data", sd_model=str(source)))
    book = services.store.create("local", "One file", page_count=4)
    book = services.store.update("local", book.id, lambda b: setattr(b, "pages", [Page(
        text="p", illustration_prompt="a cat in the garden",
        image=ImageSpec(width=64, height=64, steps=2, seed=5, seed_locked=True))] * 4))
    return services, book


def test_single_file_loads_offline_with_a_local_config_and_matches_the_folder(single_file, tmp_path, monkeypatch):
    checkpoint, config = single_file
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from_file, book = _services(tmp_path / "a", checkpoint)
    ill = from_file.backends.active("illustrator")
    assert ill.name == "diffusers" and ill.available().ok
    ill.single_file_configs = {"sd15": str(config)}
    from_folder, book2 = _services(tmp_path / "b", config)
    try:
        assert (_render(from_file, book) == _render(from_folder, book2)).all()  # same weights, same picture
        assert type(ill._base).__name__ == "StableDiffusionPipeline" and ill._base.safety_checker is None
    finally:
        from_file.close()
        from_folder.close()


def test_single_file_loads_offline_with_no_tokenizer_files_from_the_user(single_file, tmp_path, monkeypatch):
    """The family's config folder has no vocab.json/merges.txt: the studio makes them from the
    packaged CLIP BPE data, in its own cache, and the picture is the one the full folder makes."""
    checkpoint, config = single_file
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bare = _config_without_vocabulary(config, tmp_path / "bare_config")
    from_file, book = _services(tmp_path / "a", checkpoint)
    from_folder, book2 = _services(tmp_path / "b", config)
    ill = from_file.backends.active("illustrator")
    ill.single_file_configs = {"sd15": str(bare)}
    try:
        assert (_render(from_file, book) == _render(from_folder, book2)).all()
        assert sorted(p.name for p in (bare / "tokenizer").iterdir()) == ["tokenizer_config.json"]  # left as it was
        made = list(tmp_path.glob("*/data/cache/model_configs/sd15-*/tokenizer/vocab.json"))  # a data dir's cache
        assert len(made) == 1
    finally:
        from_file.close()
        from_folder.close()


def test_without_the_bpe_data_the_message_says_what_is_missing(single_file, tmp_path, monkeypatch):
    checkpoint, config = single_file
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(clip_vocab, "bpe_path", lambda: None)
    bare = _config_without_vocabulary(config, tmp_path / "bare_config")
    services, book = _services(tmp_path, checkpoint)
    services.backends.active("illustrator").single_file_configs = {"sd15": str(bare)}
    try:
        with pytest.raises(BackendError) as caught:
            _render(services, book)
        assert caught.value.key == "models.single_file_config_incomplete"
        assert "tokenizer/vocab.json" in str(caught.value) and str(bare) in str(caught.value)
        assert "tokenizer/vocab.json" in caught.value.render("ko")
    finally:
        services.close()


def test_clip_tokenizer_made_from_the_packaged_bpe_file(tmp_path):
    from transformers import CLIPTokenizer

    folder = complete_config_folder(MODEL_CONFIGS / "sd15", False, tmp_path)
    assert folder.parent == tmp_path and not (MODEL_CONFIGS / "sd15" / "tokenizer" / "vocab.json").exists()
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    assert len(tokenizer) == 49408
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert (folder / "merges.txt").exists() is False and (folder / "tokenizer" / "merges.txt").read_text(
        encoding="utf-8").startswith("#version: 0.2\n")
    assert complete_config_folder(MODEL_CONFIGS / "sd15", False, tmp_path) == folder  # made once, reused


def test_sdxl_config_gets_both_tokenizers_with_their_own_padding(tmp_path):
    from transformers import CLIPTokenizer

    folder = complete_config_folder(MODEL_CONFIGS / "sdxl", True, tmp_path)
    first = CLIPTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    second = CLIPTokenizer.from_pretrained(folder / "tokenizer_2", local_files_only=True)
    assert first("a photo of a cat").input_ids == second("a photo of a cat").input_ids
    assert first.pad_token_id == 49407 and second.pad_token == "!" and second.pad_token_id == 0
    assert (folder / "unet" / "config.json").read_bytes() == (MODEL_CONFIGS / "sdxl" / "unet" / "config.json").read_bytes()


@pytest.mark.parametrize("family, counts", [
    ("sd15", {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480}),
    ("sdxl", {"unet": 2_567_463_684, "vae": 83_653_863, "text_encoder": 123_060_480, "text_encoder_2": 694_659_840}),
])
def test_shipped_configs_describe_the_published_models(family, counts):
    """Built on the meta device (no memory): the parameter counts of the published checkpoints."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = MODEL_CONFIGS / family
    builders = {"unet": lambda p: UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(p)),
                "vae": lambda p: AutoencoderKL.from_config(AutoencoderKL.load_config(p)),
                "text_encoder": lambda p: CLIPTextModel(CLIPTextConfig.from_pretrained(p)),
                "text_encoder_2": lambda p: CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(p))}
    with init_empty_weights():
        for part, expected in counts.items():
            model = builders[part](folder / part)
            assert sum(p.numel() for p in model.parameters()) == expected, part


def test_a_stable_diffusion_2_single_file_is_refused_with_what_to_do_instead(tmp_path):
    """No SD 2.x config folder ships: converting one with the SD 1.5 config would fail deep in
    diffusers. The family is told plainly, before anything is loaded."""
    import torch
    from safetensors.torch import save_file

    from studio.backends.base import BackendError
    from studio.backends.sd_loading import load_pipeline

    path = tmp_path / "v2-1_768-ema-pruned.safetensors"
    save_file({"cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight": torch.zeros(3, 1),
               "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, 4, 3, 3)}, str(path))
    with pytest.raises(BackendError) as refused:
        load_pipeline(str(path), torch.float32)
    assert refused.value.key == "models.single_file_sd2"
    assert "Stable Diffusion 2" in str(refused.value) and "diffusers 폴더" in refused.value.render("ko")


def test_a_single_files_base_comes_from_one_read_of_its_header(tmp_path, monkeypatch):
    import torch
    from safetensors.torch import save_file

    from studio.backends import lora_files

    reads = []
    real_read = lora_files.read_header
    monkeypatch.setattr(lora_files, "read_header", lambda path: reads.append(path) or real_read(path))
    unet = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, 4, 3, 3)}
    for name, extra, base in (("xl", "conditioner.embedders.1.model.ln_final.weight", "sdxl"),
                              ("v2", "cond_stage_model.model.ln_final.weight", "sd2"),
                              ("v1", "cond_stage_model.transformer.text_model.final_layer_norm.weight", "sd15")):
        path = tmp_path / f"{name}.safetensors"
        save_file({**unet, extra: torch.zeros(2)}, str(path))
        reads.clear()
        assert lora_files.checkpoint_base(path) == base and len(reads) == 1
        assert lora_files.is_sdxl_checkpoint(path) == (base == "sdxl")
