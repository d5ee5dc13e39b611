"""The CLIP tokenizer's vocabulary, made on this machine from the BPE file OpenAI published.

A single ``.safetensors`` checkpoint holds weights only; diffusers also needs the text
tokenizer's ``vocab.json`` and ``merges.txt`` (~2 MB, not shipped in ``assets/model_configs``).
Every Stable Diffusion text encoder (SD 1.5's CLIP ViT-L, SDXL's CLIP ViT-L and OpenCLIP bigG)
reads the same vocabulary: the one in OpenAI's ``bpe_simple_vocab_16e6.txt.gz``, which the
``clip-anytorch`` package ships (MIT). We read that data file without importing the package
(its ``__init__`` imports torchvision) and write the two files a ``CLIPTokenizer`` loads:

* ``merges.txt``: a ``#version: 0.2`` header, then the first 49152 - 256 - 2 merge rules of the
  BPE file (its own first line is a header too);
* ``vocab.json``: token -> id, ids in this order: the 256 byte symbols (bytes mapped to
  printable characters, see ``byte_symbols``), the same 256 with the end-of-word mark ``</w>``,
  one token per merge rule (its two halves joined), then ``<|startoftext|>`` and
  ``<|endoftext|>``: 49408 tokens.

``complete_config_folder`` gives a config folder the single-file loader can use offline: the
folder itself when its tokenizers are complete, else a copy of its small config files in the
studio's cache with the tokenizer files added (the shipped ``tokenizer_config.json`` untouched:
SDXL's second tokenizer pads with ``!``, the first with ``<|endoftext|>``).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

PACKAGE = "clip-anytorch"
BPE_FILE = "clip/bpe_simple_vocab_16e6.txt.gz"
VOCAB_SIZE = 49408
MERGE_COUNT = VOCAB_SIZE - 2 * 256 - 2  # the merge rules the vocabulary has room for
END_OF_WORD = "</w>"
SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")
TOKENIZER_FILES = ("vocab.json", "merges.txt")
CONFIG_SUFFIXES = (".json", ".txt")  # what a config folder holds besides weights (never copied)
MAX_CONFIG_FILE_BYTES = 64 * 1024 * 1024  # tokenizer.json is a few MB; weights are never .json/.txt


def bpe_path() -> Path | None:
    """The packaged BPE file, found through the package's installed-file list (no import)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = Path(distribution(PACKAGE).locate_file(BPE_FILE))
    except PackageNotFoundError:
        return None
    return path if path.is_file() else None


def byte_symbols() -> list[str]:
    """One printable character per byte value, in vocabulary order.

    Bytes that are already visible characters (``!``..``~``, ``¡``..``¬``, ``®``..``ÿ``) stand
    for themselves and come first, in byte order; the other 68 bytes (controls, space, soft
    hyphen...) are given the characters from U+0100 upward, in byte order, and come after."""
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shown = set(visible)
    hidden = [b for b in range(256) if b not in shown]
    return [chr(b) for b in visible] + [chr(256 + i) for i in range(len(hidden))]


def read_merges(path: Path) -> list[str]:
    """The merge rules (``"t h"``) the vocabulary uses, from the gzipped BPE file."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    merges = lines[1:1 + MERGE_COUNT]  # line 0 is the file's version header
    if len(merges) != MERGE_COUNT or any(len(rule.split(" ")) != 2 for rule in merges):
        raise ValueError(f"{path} is not a CLIP BPE file ({len(merges)} merge rules)")
    return merges


def build_vocab(merges: list[str]) -> dict[str, int]:
    symbols = byte_symbols()
    tokens = [*symbols, *(s + END_OF_WORD for s in symbols), *(rule.replace(" ", "") for rule in merges),
              *SPECIAL_TOKENS]
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:  # a repeated token would shift every id after it
        raise ValueError(f"CLIP vocabulary has {len(vocab)} distinct tokens, expected {VOCAB_SIZE}")
    return vocab


def write_tokenizer_files(folder: Path, bpe: Path | None = None) -> None:
    """``vocab.json`` and ``merges.txt`` of the CLIP tokenizer into ``folder``."""
    bpe = bpe or bpe_path()
    if bpe is None:
        raise FileNotFoundError(f"{PACKAGE} is not installed")
    merges = read_merges(bpe)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (folder / "vocab.json").write_text(json.dumps(build_vocab(merges), ensure_ascii=False), encoding="utf-8")


def tokenizer_folders(sdxl: bool) -> tuple[str, ...]:
    return ("tokenizer", "tokenizer_2") if sdxl else ("tokenizer",)


def has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or all((folder / name).is_file() for name in TOKENIZER_FILES)


def complete_config_folder(folder: Path, sdxl: bool, cache: Path) -> Path:
    """``folder`` when its tokenizers are complete; else its completed copy under ``cache``
    (made once per folder content, then reused). ``folder`` is returned unchanged when the BPE
    data is not installed: the caller's check then names the missing files."""
    folder = Path(folder)
    missing = [name for name in tokenizer_folders(sdxl) if not has_tokenizer(folder / name)]
    bpe = bpe_path()
    if not missing or bpe is None or not (folder / "model_index.json").is_file():
        return folder
    files = _config_files(folder)
    digest = hashlib.sha256(f"{PACKAGE}:{bpe.stat().st_size}".encode())
    for relative in files:
        digest.update(relative.encode() + b"\0" + (folder / relative).read_bytes() + b"\0")
    target = cache / f"{'sdxl' if sdxl else 'sd15'}-{digest.hexdigest()[:16]}"
    if not (target / "model_index.json").is_file() and not _build(folder, files, missing, bpe, target):
        return folder
    os.utime(target / "model_index.json")  # in use: the cache sweep goes by age
    return target


def _config_files(folder: Path) -> list[str]:
    """The small config files of a pipeline folder (a full diffusers folder's weights stay put)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.suffix in CONFIG_SUFFIXES and p.stat().st_size <= MAX_CONFIG_FILE_BYTES)


def _build(folder: Path, files: list[str], missing: list[str], bpe: Path, target: Path) -> bool:
    """Write the completed copy beside ``target`` and move it in whole: a reader never sees half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        for relative in files:
            (work / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / relative, work / relative)
        first = work / missing[0]
        write_tokenizer_files(first, bpe)
        for name in missing[1:]:  # SDXL's two tokenizers read the same vocabulary
            (work / name).mkdir(parents=True, exist_ok=True)
            for file in TOKENIZER_FILES:
                shutil.copyfile(first / file, work / name / file)
        try:
            os.replace(work, target)
        except OSError:  # another load made it meanwhile: theirs is as good as ours
            shutil.rmtree(work, ignore_errors=True)
        return (target / "model_index.json").is_file()
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
