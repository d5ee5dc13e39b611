"""Model files whose headers lie are refused before faiss or torch allocate what they claim.

Hostile ``.index``, ``.pth`` and ``.safetensors`` files built here byte by byte; the studio's
normal loaders refuse each with a clear message, and a separate Python process measures its
peak memory per attempt (it must grow < 50 MB) next to a control that shows the measure sees a
raw library load of the same kind of file. Small real files keep loading.
"""
from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from studio.backends.lora_files import LoraFileError, inspect_lora
from studio.backends.rvc.checkpoint import ModelFileError, load_model, read_index
from studio.messages import text
from studio.model_files import check_faiss_index, check_torch_zip, read_safetensors_header
from tiny_voice import make_index, make_rvc_pth

ROOT = Path(__file__).resolve().parent.parent
MB = 1 << 20


# -- builders ------------------------------------------------------------------------------------
def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def index_header(d: int, ntotal: int, metric: int = 1) -> bytes:
    return struct.pack("<iqqqBi", d, ntotal, 1 << 20, 1 << 20, 1, metric)


def flat_claiming(path: Path, d: int, ntotal: int) -> Path:
    """An ``IndexFlatL2`` header declaring ``ntotal`` vectors, and none of them: ~50 bytes."""
    path.write_bytes(b"IxF2" + index_header(d, ntotal) + struct.pack("<Q", d * ntotal))
    return path


def ivf_claiming(path: Path, list_size: int, nlist: int = 1, d: int = 8, kind: bytes = b"ilar",
                 list_type: bytes = b"full") -> Path:
    """An IVF-flat index whose inverted-list sizes claim ``list_size`` vectors: ~110 bytes that
    make faiss reserve list_size × (4d + 8) bytes before it reads any."""
    quantizer = b"IxF2" + index_header(d, 0) + struct.pack("<Q", 0)
    direct_map = struct.pack("<BQ", 0, 0)
    if list_type == b"full":
        sizes = struct.pack("<Q", nlist) + struct.pack(f"<{nlist}Q", list_size, *([0] * (nlist - 1)))
    else:  # sparse: (list, size) pairs
        sizes = struct.pack("<QQQ", 2, 0, list_size)
    lists = kind + struct.pack("<QQ", nlist, d * 4) + list_type + sizes
    path.write_bytes(b"IwFl" + index_header(d, 0) + struct.pack("<QQ", nlist, 1) + quantizer + direct_map + lists)
    return path


def real_ivf(path: Path, d: int = 768, n: int = 300) -> tuple[Path, np.ndarray]:
    """What RVC writes: ``IVF<n>,Flat`` trained on the features, with a direct map."""
    import faiss

    vectors = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    index = faiss.index_factory(d, "IVF4,Flat")
    index.train(vectors)
    index.add(vectors)
    faiss.write_index(index, str(path))
    return path, vectors


def torch_zip(path: Path, state: dict, compress: bool = False) -> Path:
    """``torch.save`` output, re-zipped with deflate when ``compress`` (what an attacker does to
    make a tiny file inflate to its declared size)."""
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    if not compress:
        path.write_bytes(buf.getvalue())
        return path
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    return path


def pth_bomb(path: Path, megabytes: int) -> Path:
    import torch

    return torch_zip(path, {"weight": {"emb": torch.zeros(megabytes * MB // 4)}, "config": [1]}, compress=True)


def pth_with_lying_record(path: Path, claimed: int) -> Path:
    """A stored (uncompressed) record whose directory entry claims ``claimed`` bytes."""
    import torch

    torch_zip(path, {"weight": {"emb": torch.ones(4)}, "config": [1]})
    raw = bytearray(path.read_bytes())
    at = 0
    while (at := raw.find(b"PK\x01\x02", at)) >= 0:  # central directory entries
        name_len = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46:at + 46 + name_len].endswith(b"data/0"):
            struct.pack_into("<I", raw, at + 24, claimed)
        at += 4
    path.write_bytes(bytes(raw))
    return path


def safetensors_file(path: Path, header: dict | bytes, body: bytes = b"", declared: int | None = None) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if declared is None else declared) + raw + body)
    return path


def lora_file(path: Path) -> Path:
    """A tiny SD 1.5 LoRA as kohya writes it, metadata with JSON text inside (braces, quotes)."""
    import torch
    from safetensors.torch import save_file

    key = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_{}.weight"
    tensors = {key.format("down"): torch.randn(4, 768), key.format("up"): torch.randn(320, 4),
               "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.alpha": torch.tensor(4.0)}
    metadata = {"ss_network_dim": "4", "ss_tag_frequency": json.dumps({"img": {"a \"grandma\" [red]": 3}})}
    save_file(tensors, str(path), metadata=metadata)
    return path


# -- faiss .index ----------------------------------------------------------------------------------
def test_real_indexes_pass_the_walk_and_load(tmp_path):
    path, vectors = real_ivf(tmp_path / "added_IVF4_Flat.index")
    layout = check_faiss_index(path, 768)
    assert (layout.kind, layout.d, layout.ntotal) == ("IVF flat", 768, 300)
    index, stored = read_index(path, 768)  # the studio's loader: walk, then faiss
    assert index.ntotal == 300 and np.allclose(np.sort(stored, axis=0), np.sort(vectors, axis=0))
    flat = make_index(tmp_path / "flat.index", dim=256, n=40)
    assert read_index(flat, 256)[1].shape == (40, 256)


@pytest.mark.parametrize("name, build, message", [
    ("flat claims 1 GB", lambda p: flat_claiming(p, 768, 350_000), "claims 1,025 MB"),
    ("ivf list claims 1.2 GB", lambda p: ivf_claiming(p, 1 << 25), "claims 1,280 MB"),
    ("sparse list claims", lambda p: ivf_claiming(p, 1 << 25, nlist=4, list_type=b"sprs"), "claims"),
    ("a million lists", lambda p: ivf_claiming(p, 1, nlist=1 << 20, list_type=b"sprs"), "1048576 lists"),
    ("lists in another file", lambda p: ivf_claiming(p, 1, kind=b"ilod"), "not used by RVC"),
    ("product quantizer", lambda p: write(p, b"IxPQ" + index_header(8, 0)), "not used by RVC"),
    ("text", lambda p: write(p, b"hello, this is not an index"), "not used by RVC"),
    ("cut short", lambda p: write(p, b"IxF2" + index_header(8, 2)[:10]), "ends too early"),
])
def test_hostile_indexes_are_refused_before_faiss(tmp_path, monkeypatch, name, build, message):
    import faiss

    path = build(tmp_path / "hostile.index")
    assert path.stat().st_size < 200
    monkeypatch.setattr(faiss, "read_index", lambda *a: pytest.fail("faiss was handed a hostile file"))
    with pytest.raises(ModelFileError, match=message) as refused:
        read_index(path, 8 if "list" in name else 768)
    assert "refused" in str(refused.value) or "RVC" in str(refused.value) or "early" in str(refused.value)
    assert refused.value.render("ko") != str(refused.value)  # a Korean visitor reads it in Korean


def test_a_real_index_with_junk_appended_or_cut_is_refused(tmp_path):
    path, _ = real_ivf(tmp_path / "a.index", d=64, n=80)
    good = path.read_bytes()
    path.write_bytes(good + b"\0" * 16)
    with pytest.raises(ModelFileError, match="extra data"):
        read_index(path, 64)
    path.write_bytes(good[:-100])
    with pytest.raises(ModelFileError, match="claims|early"):
        read_index(path, 64)


# -- torch .pth ------------------------------------------------------------------------------------
def test_a_tiny_rvc_model_still_loads(tmp_path):
    pth = make_rvc_pth(tmp_path / "voice.pth")
    assert check_torch_zip(pth) <= 2 * pth.stat().st_size
    model = load_model(pth)
    assert model.version == "v2" and model.use_f0


def test_a_deflated_model_that_expands_modestly_still_loads(tmp_path):
    import torch

    pth = torch_zip(tmp_path / "zipped.pth", {"weight": {"w": torch.randn(1000, 64)}, "config": [1]}, compress=True)
    check_torch_zip(pth)
    with pytest.raises(ModelFileError, match="not match RVC|training G_"):  # reaches torch, then our layout check
        load_model(pth)


def test_hostile_pth_files_are_refused_before_torch(tmp_path, monkeypatch):
    import torch

    cases = {
        "bomb": (pth_bomb(tmp_path / "bomb.pth", 64), r"claims 64 MB from \d+ MB"),
        "lying record": (pth_with_lying_record(tmp_path / "lie.pth", 1 << 30), "wrong size"),
        "legacy pickle": (tmp_path / "old.pth", "old format"),
        "text": (tmp_path / "notes.pth", "not a readable"),
    }
    cases["legacy pickle"][0].write_bytes(b"\x80\x02}q\x00.")
    cases["text"][0].write_text("hello")
    with zipfile.ZipFile(tmp_path / "many.pth", "w") as zf:
        for i in range(20_001):
            zf.writestr(f"archive/data/{i}", b"")
        zf.writestr("archive/data.pkl", b"")
    cases["many records"] = (tmp_path / "many.pth", "20002 records")
    assert cases["bomb"][0].stat().st_size < MB
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch was handed a hostile file"))
    for name, (path, message) in cases.items():
        with pytest.raises(ModelFileError, match=message):
            load_model(path)


def test_a_directory_larger_than_its_stated_count_is_refused(tmp_path):
    # zipfile walks the directory's bytes, not the count in the end record: both are bounded
    path = tmp_path / "padded.pth"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(3000):
            zf.writestr(f"archive/data/{i}" + "x" * 900, b"")
        zf.writestr("archive/data.pkl", b"")
    raw = bytearray(path.read_bytes())
    struct.pack_into("<HH", raw, raw.rfind(b"PK\x05\x06") + 8, 3, 3)  # "3 entries"
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="list of records is 3 MB"):
        check_torch_zip(path)


def test_total_expansion_is_capped_against_the_file_size(tmp_path):
    import torch

    # many records each under the per-record slack, together far beyond the file's size
    state = {"weight": {f"w{i}": torch.zeros(3 * MB) for i in range(8)}, "config": [1]}  # 8 × 12 MB
    path = torch_zip(tmp_path / "spread.pth", state, compress=True)
    with pytest.raises(ModelFileError, match="would expand to 96 MB"):
        check_torch_zip(path)


# -- .safetensors ----------------------------------------------------------------------------------
def test_a_tiny_lora_passes_and_loads(tmp_path):
    from safetensors.torch import load_file

    path = lora_file(tmp_path / "style.safetensors")
    info = inspect_lora(path)
    assert info.cross_attention_dim == 768 and info.tensors == 3
    assert load_file(str(path))["lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight"].shape == (4, 768)


def _tensor(dtype="F32", shape=(2, 2), offsets=(0, 16)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


@pytest.mark.parametrize("name, header, body, declared, message", [
    ("header claims 60 MB", {"a": _tensor()}, b"\0" * 16, 60 * MB, "bad header length"),
    ("deeply nested", b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", b"", None, "nested far too deeply"),
    ("nested metadata", {"__metadata__": {"x": {"y": {"z": [1]}}}}, b"", None, "metadata must be plain text"),
    ("nested shape", {"a": _tensor(shape=[[2], 2])}, b"\0" * 16, None, "tensor a does not match"),
    ("outside the file", {"a": _tensor(shape=(1 << 20, 1 << 20), offsets=(0, 1 << 42))}, b"\0" * 16, None,
     "outside the file"),
    ("shape does not fit its bytes", {"a": _tensor(shape=(1 << 30, 1 << 30), offsets=(0, 16))}, b"\0" * 16, None,
     "does not match its size"),
    ("unknown dtype", {"a": _tensor(dtype="F128")}, b"\0" * 16, None, "does not match"),
    ("overlap", {"a": _tensor(), "b": _tensor(offsets=(8, 24))}, b"\0" * 24, None, "share the same bytes"),
    ("not an object", [1, 2, 3], b"", None, "unreadable header"),
])
def test_hostile_safetensors_headers_are_refused(tmp_path, name, header, body, declared, message):
    path = safetensors_file(tmp_path / "x.safetensors", header, body, declared)
    with pytest.raises(ModelFileError, match=message):
        read_safetensors_header(path)
    with pytest.raises(LoraFileError, match=message) as refused:  # the LoRA upload path says the same
        inspect_lora(path)
    assert refused.value.render("ko") == text(refused.value.key, "ko", **refused.value.values)


# -- memory, measured in a separate process --------------------------------------------------------
_MEASURE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import faiss, torch  # loaded before the baseline: libraries, not attempts
from studio.backends.lora_files import inspect_lora
from studio.backends.rvc.checkpoint import load_model, read_index

def peak_mb():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over exec)
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024

def reset_peak():  # Linux: "5" sets the peak back to the current size; without it the peak is monotonic
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass

loaders = {"index": lambda p: read_index(p, 768), "pth": load_model, "safetensors": inspect_lora,
           "raw_faiss": faiss.read_index, "raw_torch": lambda p: torch.load(p, weights_only=True)}
jobs = json.loads(sys.argv[2])
load_model(jobs.pop(0)[1])  # a real model first: whatever the happy path keeps is in the baseline
growth = {}
for kind, path in jobs:
    reset_peak()
    before = peak_mb()
    try:
        loaders[kind](path)
        outcome = "loaded"
    except Exception as exc:
        outcome = type(exc).__name__
    growth[path] = [round(peak_mb() - before, 1), outcome]
print(json.dumps(growth))
"""


def test_each_hostile_attempt_grows_memory_by_less_than_50_mb(tmp_path):
    hostile = [
        ("index", flat_claiming(tmp_path / "flat.index", 768, 350_000)),
        ("index", ivf_claiming(tmp_path / "ivf.index", 1 << 25)),
        ("index", ivf_claiming(tmp_path / "lists.index", 1, nlist=1 << 24, list_type=b"sprs")),
        ("pth", pth_bomb(tmp_path / "bomb.pth", 128)),
        ("pth", pth_with_lying_record(tmp_path / "lie.pth", 1 << 30)),
        ("safetensors", safetensors_file(tmp_path / "deep.safetensors", b"[" * 200_000 + b"]" * 200_000)),
        ("safetensors", safetensors_file(tmp_path / "huge.safetensors",
                                         {"a": _tensor(shape=(1 << 20, 1 << 20), offsets=(0, 1 << 42))})),
    ]
    # controls, last (in case the peak cannot be reset between attempts): the same kind of files handed straight to
    # the libraries do allocate what they claim, so the measure can see an attack
    controls = [("raw_faiss", flat_claiming(tmp_path / "control.index", 64, 1 << 20)),  # 256 MB
                ("raw_torch", pth_bomb(tmp_path / "control.pth", 160))]
    jobs = [("pth", make_rvc_pth(tmp_path / "good.pth"))] + hostile + controls
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(ROOT), json.dumps([[k, str(p)] for k, p in jobs])],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    growth = json.loads(out.stdout.strip().splitlines()[-1])
    print({Path(p).name: grew for p, (grew, _) in growth.items()})  # shown with -s
    for kind, path in hostile:
        grew, outcome = growth[str(path)]
        assert outcome == "ModelFileError" or (kind == "safetensors" and outcome == "LoraFileError"), (path, outcome)
        assert grew < 50, f"{path.name}: +{grew} MB"
    faiss_grew, _ = growth[str(controls[0][1])]
    torch_grew, _ = growth[str(controls[1][1])]
    assert faiss_grew > 200 and torch_grew > 120, growth  # the measure sees a real allocation


def test_the_illustrator_keeps_the_lora_files_message_key(tmp_path):
    from studio.backends.base import BackendError
    from studio.backends.diffusers_sd import DiffusersIllustrator
    from studio.config import Settings

    path = safetensors_file(tmp_path / "x.safetensors", {"a": _tensor()}, b"\0" * 16, None)  # no LoRA weights
    illustrator = DiffusersIllustrator(Settings(data_dir=tmp_path / "data", device="cpu"))
    with pytest.raises(BackendError) as refused:
        illustrator.check_lora(path)
    assert refused.value.key == "uploads.lora_no_weights"  # said in the visitor's language, not English only
    assert refused.value.render("ko") == text("uploads.lora_no_weights", "ko")
