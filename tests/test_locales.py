"""The catalogues in locales/ are complete and clean: every key the code names exists in every
language, no key is left unused, the {placeholders} match, English has no Korean in it and Korean
has no leftover English (product names and file formats allowed)."""
from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

from studio import messages

ROOT = Path(__file__).resolve().parent.parent
CODE = [path for path in [*sorted((ROOT / "studio").rglob("*.py")), *sorted((ROOT / "tabs").rglob("*.py")),
                          ROOT / "app.py"]
        if path.name != "messages.py"]  # its docstring shows example keys
KEY = r"[a-z][a-z0-9_]*\.[a-z0-9_.]*[a-z0-9_]"
# A key named in code: the first argument of a message call or of a raised error.
NAMED = re.compile(rf"""(?:\b(?:say|refuse|t|text|i18n|has_key)\(\s*|raise\s+\w+\(\s*|next_button\(ctx,\s*)["']({KEY})["']""")
# Keys built at run time: f"pg.tone_{k}" names every key starting with "pg.tone_".
DYNAMIC = re.compile(r"""f["']([a-z][a-z0-9_]*\.[a-z0-9_.]*)\{""")
HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+\-]+")  # single letters (A · B) are labels
# Words a Korean page may show: product and model names, file formats, units and technical terms.
ALLOWED_LATIN = {
    "PDF", "EPUB", "MP4", "MP3", "M4B", "HTML", "LoRA", "RVC", "XTTS", "VITS", "README", "TOML", "ControlNet",
    "img2img", "safetensors", "pth", "index", "zip", "mm", "MB", "A4", "cm", "Gieok", "Studio", "GB", "Hz",
    "Gemini", "Stable", "Diffusion", "eSpeak", "NG", "Piper", "Hugging", "Face", "WebUI", "ComfyUI", "Forge",
    "A1111", "OpenAI", "HuBERT", "ContentVec", "RMVPE", "CREPE", "FAISS", "faiss", "HEIC", "HEIF", "AVIF",
    "JPEG", "PNG", "JPG", "WAV", "SDXL", "SD", "IP-Adapter", "kohya", "Applio", "ZeroGPU", "GPU", "CPU",
    "URL", "QR", "PIN", "CSV", "API", "UTC", "Ollama", "kHz", "SVG", "WebP", "M4A", "FLAC", "OGG", "WebM",
    "ffmpeg", "v1", "v2", "ko", "en", "diffusers", "MediaPipe", "FaceID", "insightface", "PM", "Harvest", "FCPE",
    "grandmother",  # the English class word a family types for a person LoRA, shown as its example
}
AREAS = {"ui_", "errors"}  # the files this project's UI owns; other areas are checked for consistency only


def _catalogue_files(lang):
    return sorted((ROOT / "locales" / lang).glob("*.json"))


def _code_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in CODE)


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_language_has_the_same_files_and_keys():
    en, ko = messages.catalogue("en"), messages.catalogue("ko")
    assert [p.name for p in _catalogue_files("en")] == [p.name for p in _catalogue_files("ko")]
    assert sorted(set(en) - set(ko)) == [] and sorted(set(ko) - set(en)) == []


def test_every_key_named_in_code_exists_in_every_language():
    named = set(NAMED.findall(_code_text()))
    assert len(named) > 150  # the scan really finds the tabs' keys
    for lang in messages.LANGUAGES:
        missing = sorted(k for k in named if k not in messages.catalogue(lang) and not k.startswith("gr."))
        assert missing == [], f"locales/{lang} lacks {missing}"


FILE_NAME = re.compile(r"\.(css|js|json|safetensors|pth|index|png|jpg|wav|txt|toml|zip|html|py)$")


def test_every_key_like_string_in_code_exists():
    """A key handed on in other ways (a variable, a tuple of choices, ``Progress(.., "story.x")``) is
    checked too: any string in code that starts with a catalogue's area name and looks like a key."""
    areas = {k.split(".")[0] for k in messages.catalogue("en")}
    strings = set(re.findall(rf"""["']({KEY})["']""", _code_text()))
    keys = {s for s in strings if s.split(".")[0] in areas and not FILE_NAME.search(s)}
    assert len(keys) > 500
    for lang in messages.LANGUAGES:
        assert sorted(k for k in keys if k not in messages.catalogue(lang)) == [], lang


def test_no_key_is_unused():
    code = _code_text()
    prefixes = set(DYNAMIC.findall(code))
    gradios_own = json.loads((ROOT / "locales" / "en" / "ui_gradio.json").read_text(encoding="utf-8"))
    unused = [k for k in messages.catalogue("en") if k not in gradios_own  # read by Gradio's page itself
              and f'"{k}"' not in code and f"'{k}'" not in code and not any(k.startswith(p) for p in prefixes)]
    assert unused == []


def test_placeholders_match_between_languages():
    en, ko = messages.catalogue("en"), messages.catalogue("ko")
    wrong = {k: (_placeholders(en[k]), _placeholders(ko[k])) for k in en
             if k in ko and _placeholders(en[k]) != _placeholders(ko[k])}
    assert wrong == {}


def test_english_has_no_korean_and_korean_no_leftover_english():
    for path in _catalogue_files("en"):
        for key, value in json.loads(path.read_text(encoding="utf-8")).items():
            assert not HANGUL.search(value), f"{path.name} {key}: Korean in English: {value!r}"
    for path in _catalogue_files("ko"):
        for key, value in json.loads(path.read_text(encoding="utf-8")).items():
            plain = re.sub(r"`[^`]*`|\{[^}]*\}", "", value)  # code names and placeholders are not prose
            english = [w for w in LATIN_WORD.findall(plain) if w not in ALLOWED_LATIN]
            assert english == [], f"{path.name} {key}: English left in Korean: {english} in {value!r}"


@pytest.mark.parametrize("lang", messages.LANGUAGES)
def test_catalogues_are_flat_string_maps(lang):
    for path in _catalogue_files(lang):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict) and all(isinstance(v, str) and v.strip() for v in data.values()), path


def test_no_colour_emoji_in_any_words():
    """Many computers (and this studio's Debian image) have no colour-emoji font: an emoji shows
    as an empty box, so the studio's words use none."""
    # ★ and ⚙ are plain glyphs that the text fonts draw (DejaVu Sans, installed with the page's fonts)
    emoji = re.compile("[\U0001F300-\U0001FAFF\u2600-\u2604\u2606-\u2698\u269A-\u26FF\u2B50\u23F3]")
    for lang in messages.LANGUAGES:
        assert [k for k, v in messages.catalogue(lang).items() if emoji.search(v)] == []
    for path in [*sorted((ROOT / "tabs").rglob("*.py")), ROOT / "app.py"]:  # shared views and the kiosk too
        assert not emoji.search(path.read_text(encoding="utf-8")), path
