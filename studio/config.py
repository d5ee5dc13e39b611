"""Settings from the environment (and an optional TOML file named by ``GIEOK_CONFIG``).

Every knob has an offline default so a fresh clone runs with no weights and no keys.
Environment variables win over the TOML file; the TOML file wins over defaults.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def default_data_dir() -> Path:
    """``/data/gieok`` on Spaces persistent storage, else a per-user dir outside the checkout."""
    spaces = Path("/data")
    if spaces.is_dir() and os.access(spaces, os.W_OK):
        return spaces / "gieok"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gieok-studio"


@dataclass
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    # "local": one family on 127.0.0.1 (single owner); "public": Spaces, owner per visitor;
    # "kiosk": owner per visitor, reset between visitors.
    mode: str = "local"
    host: str = "127.0.0.1"
    port: int = 7860
    max_file_size_mb: int = 200  # a standard RVC v2 .pth is ~55 MB, 10 min of WAV ~106 MB
    queue_size: int = 32
    # Per-owner limits (a visitor on a public Space, or the one family at home); 0 = no limit.
    max_books_per_owner: int = 1000
    max_pages_per_owner: int = 2400  # 100 books of 24 pages
    max_media_mb_per_owner: int = 4096  # photos, recordings, voice models, LoRAs
    # Book archives: the expanded size may be at most this many times the upload, and this much.
    import_max_expansion: int = 20
    import_max_mb: int = 1024
    # Backend choice per kind: "auto" picks the first available in registry order.
    writer: str = "auto"
    illustrator: str = "auto"
    speaker: str = "auto"
    converter: str = "auto"
    pose_detector: str = "auto"
    depth_estimator: str = "auto"
    # Story writers
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str = ""  # only for tests / proxies
    openai_base_url: str = ""  # e.g. http://127.0.0.1:11434/v1 (Ollama)
    openai_model: str = "llama3.1"
    openai_api_key: str = "not-needed"
    openai_num_ctx: int = 0  # a local server's context for one answer; 0: sized to the book (at least 8192)
    llm_timeout_s: float = 60.0
    llm_retries: int = 3
    llm_backoff_s: float = 1.0  # first wait before retrying a 429/5xx/timeout; doubles each time
    # Illustration (hub id or local path; empty = not configured)
    sd_model: str = ""
    controlnet_openpose: str = ""
    controlnet_depth: str = ""
    controlnet_canny: str = ""
    controlnet_lineart: str = ""
    pose_model: str = ""  # transformers VitPose id/path
    depth_model: str = ""  # transformers depth-estimation id/path
    lora_dir: str = ""  # folder of style LoRA .safetensors named in assets/styles.json
    ip_adapter: str = ""  # IP-Adapter .safetensors (plain / plus-face, SD 1.5 or SDXL) for reference photos
    ip_adapter_image_encoder: str = ""  # the CLIP vision encoder folder that adapter was trained with
    ip_adapter_faceid: str = ""  # IP-Adapter FaceID .safetensors (SD 1.5/SDXL); needs insightface (non-commercial models)
    insightface_root: str = ""  # folder holding insightface's models/buffalo_l (empty: insightface's own ~/.insightface)
    caption_model: str = ""  # BLIP captioner (id or folder) for training photos; empty: the caption template
    person_detector: str = ""  # DETR/YOLOS COCO detector (id or folder) for people in photos; empty: bundled ones
    device: str = "auto"  # auto | cpu | cuda | mps
    page_batch: int = 0  # pages one whole-book call denoises together; 0: what the GPU's memory allows
    # Speech
    vits_model_ko: str = ""  # e.g. facebook/mms-tts-kor or a local folder
    vits_model_en: str = ""
    xtts_model: str = ""
    hubert_model: str = ""  # HuBERT/ContentVec for RVC, id or local folder
    rmvpe_model: str = ""  # path to rmvpe.pt (or .safetensors) for the "rmvpe" pitch method
    espeak_binary: str = "espeak-ng"
    ffmpeg_binary: str = ""  # empty: system ffmpeg, else imageio-ffmpeg's
    subprocess_timeout_s: float = 600.0
    # Public Spaces: anonymous books expire; per-visitor limits; ZeroGPU turn sizes
    anon_ttl_hours: float = 24.0  # an anonymous visitor's books go this long after their last activity
    pages_per_hour: int = 60  # pictures one visitor may make per hour (public/kiosk only; 0 = no limit)
    gpu_seconds_per_step: float = 0.3  # first guess for one denoising step; refined by measurement
    gpu_overhead_s: float = 10.0  # per ZeroGPU turn: moving the model onto the GPU, decoding
    gpu_min_duration_s: int = 15
    gpu_max_duration_s: int = 120  # ZeroGPU's longest turn for most accounts
    train_window_steps: int = 0  # LoRA training in windows of this many steps off ZeroGPU (0: one run)
    # Remote engines (no GPU here): Hugging Face inference, A1111/Forge WebUI, ComfyUI.
    # The Hugging Face token is never a setting: the visitor's login, or HF_TOKEN in the environment.
    hf_image_model: str = ""  # e.g. black-forest-labs/FLUX.1-schnell, stabilityai/stable-diffusion-xl-base-1.0
    hf_image2image_model: str = ""  # empty: photos on a page cannot be repainted through Hugging Face
    hf_chat_model: str = ""  # e.g. Qwen/Qwen2.5-7B-Instruct
    hf_tts_model_ko: str = ""  # e.g. facebook/mms-tts-kor
    hf_tts_model_en: str = ""
    hf_provider: str = "auto"  # an inference provider name, or "auto" (the visitor's preferred order)
    hf_base_url: str = ""  # a dedicated endpoint or test server: models at {url}/models/{model id}
    a1111_urls: str = ""  # comma separated WebUI/Forge addresses started with --api
    a1111_model: str = ""  # checkpoint title on the servers; empty: whatever they have loaded
    a1111_controlnets: str = ""  # "openpose=control_v11p_sd15_openpose,depth=..." (model names on the servers)
    comfyui_urls: str = ""  # comma separated ComfyUI addresses
    comfyui_checkpoint: str = ""  # checkpoint file name on the servers, e.g. v1-5-pruned-emaonly.safetensors
    comfyui_controlnets: str = ""  # "openpose=control_v11p_sd15_openpose.pth,..." (file names on the servers)
    remote_timeout_s: float = 300.0  # one picture, one page of speech or one story answer
    remote_retries: int = 2  # more tries after a busy/failing answer, each wait doubling
    remote_backoff_s: float = 1.0
    remote_cooldown_s: float = 30.0  # a worker that failed is tried again after this long
    remote_concurrency: int = 0  # remote jobs at once; 0: one per WebUI/ComfyUI server, 4 for Hugging Face
    # Exhibition kiosk (mode "kiosk"): the operator's first PIN (hashed into the data dir at start;
    # change it on the operator screen), and the address phones use for the take-home QR code
    # (e.g. http://192.168.1.20:7860; empty: this machine's address on the local network)
    kiosk_pin: str = ""
    kiosk_url: str = ""

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()

    @property
    def db_path(self) -> Path:
        return self.data_dir / "books.json"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> "Settings":
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        toml_path = env.get("GIEOK_CONFIG")
        if toml_path:
            with open(toml_path, "rb") as fh:
                values.update(tomllib.load(fh))
        for f in dataclasses.fields(cls):
            key = "GIEOK_" + f.name.upper()
            if key in env:
                values[f.name] = env[key]
        if "gemini_api_key" in values:
            values.pop("gemini_api_key")  # keys live in the environment only, never in files
        if env.get("SPACE_ID") and "mode" not in values:
            values["mode"] = "public"
        if env.get("SPACE_ID") and "host" not in values:
            values["host"] = "0.0.0.0"  # a Space serves through its proxy, not on loopback
        values.update(overrides)
        return cls(**_coerce(cls, values))

    def hf_token(self) -> str:
        """The Space's own Hugging Face token (a visitor's login token is passed per job instead)."""
        return os.environ.get("HF_TOKEN", "")

    def gemini_api_key(self) -> str:
        return os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY") or ""


def _coerce(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    for name, value in values.items():
        if name not in types:
            raise ValueError(f"Unknown setting '{name}' (check GIEOK_CONFIG / GIEOK_* variables)")
        kind = str(types[name])
        if kind == "Path":
            out[name] = Path(value).expanduser()
        elif kind == "int":
            out[name] = int(value)
        elif kind == "float":
            out[name] = float(value)
        else:
            out[name] = str(value)
    return out
