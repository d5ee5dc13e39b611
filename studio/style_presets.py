"""A family's own drawing styles: a style LoRA they trained, kept as a style preset of theirs.

The bundled presets (``assets/styles.json``, :func:`studio.illustrate.styles`) are the same for
every visitor. A style the family trains on the Likeness tab is theirs alone: it lives in their
owner folder (so deleting the owner deletes it, and no other visitor can list or use it)::

    owners/<key>/styles/styles.json        {"mine-<hex>": {"name", "trigger", "weight", ...}}
    owners/<key>/styles/mine-<hex>.safetensors

Its id starts with ``mine-`` (never a bundled id). Choosing it on a page puts its LoRA among the
page's LoRAs (copied into the owner's media, where a page's files live) and its trigger word in
front of the prompt (``StylePreset.template``), the same way a bundled preset's words are.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from studio.storage import write_json_atomic
from studio.train_lora import LoraTrainingRefused

PREFIX = "mine-"
INDEX = "styles.json"
TEMPLATE = "illustration in {trigger} style, {{characters}}, {{prompt}}"
MAX_STYLES = 50
LORA_EXT = "lora"  # the media store's extension for LoRA files (as page uploads)
_ID = re.compile(r"mine-[0-9a-f]{12}")
_lock = threading.Lock()  # one read-modify-write of an owner's index at a time


def styles_folder(services, owner: str) -> Path:
    from studio.owners import owner_folder

    if not owner:
        raise LoraTrainingRefused("likeness.style_no_owner")
    return owner_folder(services.settings.data_dir, owner) / "styles"


def _read_index(folder: Path) -> dict[str, dict]:
    path = folder / INDEX
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # a damaged index hides the styles, it never breaks the Pages tab
        return {}
    return {k: v for k, v in data.items() if _ID.fullmatch(k) and isinstance(v, dict)} if isinstance(data, dict) else {}


def _write_index(folder: Path, index: dict[str, dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_json_atomic(folder / INDEX, index, ensure_ascii=False, indent=1)


def _preset(style_id: str, record: dict):
    from studio.illustrate import StylePreset

    name = str(record.get("name") or record.get("trigger") or style_id)
    return StylePreset(id=style_id, name_ko=name, name_en=name,
                       template=TEMPLATE.format(trigger=record.get("trigger", "")),
                       negative=str(record.get("negative", "")), lora="", lora_weight=float(record.get("weight", 0.8)),
                       steps=int(record.get("steps", 25)), guidance=float(record.get("guidance", 7.0)),
                       scheduler=str(record.get("scheduler", "default")))


def owner_styles(services, owner: str) -> dict[str, Any]:
    """This owner's trained styles as ``StylePreset``s, by id (oldest first); {} for nobody."""
    if not owner:
        return {}
    folder = styles_folder(services, owner)
    return _presets(folder, _read_index(folder))


def _presets(folder: Path, index: dict[str, dict]) -> dict[str, Any]:
    ordered = sorted(index.items(), key=lambda kv: kv[1].get("created", 0))
    return {k: _preset(k, v) for k, v in ordered if (folder / f"{k}.safetensors").is_file()}


def register_style(services, owner: str, lora_path: str | Path, name: str, weight: float = 0.8) -> Any:
    """Keep a trained style LoRA as one of this owner's styles (its trigger word from the file's
    metadata); registering the same file again renames it instead of adding a twin."""
    from studio.lora_export import read_metadata

    meta = read_metadata(lora_path)
    if meta.get("subject") != "style":
        raise LoraTrainingRefused("likeness.style_not_a_style")
    trigger = str(meta.get("trigger") or "").strip()
    name = " ".join(str(name or "").split())[:60] or trigger
    digest = hashlib.sha256(Path(lora_path).read_bytes()).hexdigest()
    style_id = PREFIX + digest[:12]
    folder = styles_folder(services, owner)
    with _lock:
        index = _read_index(folder)
        if style_id not in index and len(index) >= MAX_STYLES:
            raise LoraTrainingRefused("likeness.style_too_many", most=MAX_STYLES)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = folder / f"{style_id}.safetensors"
        if not target.is_file():
            tmp = folder / f".{style_id}.tmp"
            shutil.copyfile(lora_path, tmp)
            tmp.replace(target)
        record = index.get(style_id, {"created": time.time()})
        record.update(name=name, trigger=trigger, weight=float(weight), family=meta.get("family", ""),
                      base_model=meta.get("base_model", ""), media_ref=f"{digest}.{LORA_EXT}")
        index[style_id] = record
        _write_index(folder, index)
    return _preset(style_id, record)


def rename_style(services, owner: str, style_id: str, name: str) -> Any:
    """A new name for one of the owner's styles (the pages that use it keep it)."""
    name = " ".join(str(name or "").split())[:60]
    if not name:
        raise LoraTrainingRefused("likeness.style_name_missing")
    folder = styles_folder(services, owner)
    with _lock:
        index = _read_index(folder)
        if style_id not in index:
            raise LoraTrainingRefused("likeness.style_gone")
        index[style_id]["name"] = name
        _write_index(folder, index)
        return _preset(style_id, index[style_id])


def delete_style(services, owner: str, style_id: str) -> int | None:
    """Forget one of the owner's styles. Pages that used it go back to the default style (its LoRA
    taken off them), so no page is left pointing at a style that is gone. Returns how many pages
    changed, or None when the owner has no such style."""
    folder = styles_folder(services, owner)
    with _lock:
        index = _read_index(folder)
        if style_id not in index:
            return None
        ref = str(index[style_id].get("media_ref") or "")
        del index[style_id]
        _write_index(folder, index)
        (folder / f"{style_id}.safetensors").unlink(missing_ok=True)
    return _pages_off_style(services, owner, style_id, ref)


def _pages_off_style(services, owner: str, style_id: str, ref: str) -> int:
    changed = 0
    for book in services.store.list(owner):
        if getattr(book, "damaged", "") or not any(p.image.style == style_id for p in book.pages):
            continue
        moved: list[int] = []

        def change(fresh, moved=moved) -> None:  # re-read under the lock: the family may be editing
            for page in fresh.pages:
                if page.image.style == style_id:
                    page.image.style = ""
                    page.image.loras = [lo for lo in page.image.loras if lo.ref != ref]
                    moved.append(1)

        services.store.update(owner, book.id, change)
        changed += len(moved)
    return changed


def style_lora_ref(services, owner: str, style_id: str, record: dict | None = None) -> str:
    """The style's LoRA among the owner's media (content-addressed: the same ref every time).
    ``record`` (the style's index entry) names that ref: when the media already holds it, the
    LoRA is not hashed again each time the style is picked."""
    if not _ID.fullmatch(str(style_id or "")):
        raise LoraTrainingRefused("likeness.style_gone")
    path = styles_folder(services, owner) / f"{style_id}.safetensors"
    if not path.is_file():
        raise LoraTrainingRefused("likeness.style_gone")
    media = services.store.media_for(owner)
    known = str((record or {}).get("media_ref") or "")
    if known and media.exists(known):
        return known
    return media.put_file(path, LORA_EXT)


def _own_lora_refs(index: dict[str, dict]) -> set[str]:
    """The media refs of the owner's style files (what a previous own style put on a page)."""
    return {str(r.get("media_ref")) for r in index.values() if r.get("media_ref")}


def apply_style(services, owner: str, spec, style_id: str):
    """``spec`` with this style: a bundled preset as ``illustrate.apply_style`` does it, or one of
    the owner's own (its steps, guidance and scheduler, and its LoRA first among the page's).
    The previous own style's LoRA leaves the page either way. Another owner's id is refused."""
    from studio import illustrate
    from studio.book import LoraChoice

    folder = styles_folder(services, owner)
    index = _read_index(folder)  # once: the owner's styles and their refs from the same read
    own = _presets(folder, index)
    out = copy.deepcopy(spec)
    previous = _own_lora_refs(index)
    out.loras = [lo for lo in out.loras if lo.ref not in previous]
    if not style_id.startswith(PREFIX):
        return illustrate.apply_style(out, style_id, services.settings.lora_dir)
    if style_id not in own:
        raise LoraTrainingRefused("likeness.style_gone")
    preset = own[style_id]
    out = illustrate.apply_style(out, "", services.settings.lora_dir)  # leaves a bundled preset's LoRA as is
    bundled = {p.lora for p in illustrate.styles().values() if p.lora}
    out.loras = [lo for lo in out.loras if lo.ref not in bundled]
    out.style = style_id
    out.steps, out.guidance, out.scheduler = preset.steps, preset.guidance, preset.scheduler
    out.loras.insert(0, LoraChoice(ref=style_lora_ref(services, owner, style_id, index[style_id]), weight=preset.lora_weight,
                                   name=preset.name_en))
    return out
