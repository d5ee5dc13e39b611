"""Model files from visitors are read as data and checked against their own size first.

Headers lie. faiss sizes its vectors from the numbers written in an ``.index`` file and
allocates them before it reads a byte of data, so 109 bytes can make it reserve a gigabyte;
torch inflates a compressed ``.pth`` record to the size the zip directory claims. So before
``faiss.read_index`` or ``torch.load`` runs we walk the file's structure ourselves, without
allocating anything a header names, and refuse any declared size the file cannot hold or that
is beyond what a voice or style model needs. What passes can make the library allocate about
the file's own size, no more.

The same goes for ``.safetensors`` headers (LoRAs): a bounded JSON header, no deep nesting,
and every tensor's dtype × shape matching its byte range inside the file.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from studio.messages import Localized

MAX_MODEL_BYTES = 1 << 30  # an RVC inference model is 50-60 MB; a LoRA rarely over 300 MB
MAX_INDEX_BYTES = 1 << 30  # RVC caps its index at ~200k vectors (≈600 MB at 768 dims)
MAX_INDEX_DIM = 4096
MAX_INDEX_LISTS = 1 << 16  # faiss allocates per-list bookkeeping from this number alone
MAX_INDEX_NESTING = 3  # IDMap → IVF → flat quantizer is the deepest layout we read
MAX_ZIP_ENTRIES = 20_000  # a torch file holds one record per tensor storage
ZIP_ENTRY_BYTES = 128  # a directory entry torch writes is ~100 bytes (46 + its name)
ZIP_EXPANSION = 4  # torch writes records uncompressed; a re-zipped file shrinks little
ZIP_SLACK_BYTES = 16 << 20
MAX_SAFETENSORS_HEADER = 64 << 20
SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}


class ModelFileError(Localized, ValueError):
    """A model file that cannot be used; the message (a key in locales/*/uploads.json) is for the user."""


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f}"


def _file_size(path: Path, kind: str) -> int:
    try:
        size = path.stat().st_size if path.is_file() else 0
    except OSError:
        size = 0
    if size == 0:
        raise ModelFileError("uploads.model_empty", kind=kind)
    return size


# -- faiss .index --------------------------------------------------------------------------------
FLAT_KINDS = {b"IxF2": "flat L2", b"IxFI": "flat inner product", b"IxFl": "flat"}
IVF_FLAT = b"IwFl"
ID_MAPS = {b"IxMp"}  # not IxM2: faiss builds a hash map of every id from it, ~40 bytes per 8 read


@dataclass(frozen=True)
class IndexLayout:
    kind: str  # "flat", "IVF flat", "ID map"
    d: int
    ntotal: int


class _Cursor:
    """Reads little-endian numbers from a file and skips declared arrays without reading them,
    refusing any array the rest of the file cannot hold."""

    def __init__(self, fh, size: int):
        self.fh, self.size = fh, size

    @property
    def left(self) -> int:
        return self.size - self.fh.tell()

    def take(self, fmt: str):
        n = struct.calcsize(fmt)
        raw = self.fh.read(n)
        if len(raw) != n:
            raise ModelFileError("uploads.index_truncated")
        return struct.unpack("<" + fmt, raw)[0]

    def fourcc(self) -> bytes:
        raw = self.fh.read(4)
        if len(raw) != 4:
            raise ModelFileError("uploads.index_truncated")
        return raw

    def skip(self, count: int, item_bytes: int) -> None:
        need = count * item_bytes
        if need > self.left:
            raise ModelFileError("uploads.index_claims_more", claimed=_mb(need), size=_mb(self.size))
        self.fh.seek(need, 1)

    def sizes(self, count: int) -> list[int]:
        if count * 8 > self.left:
            raise ModelFileError("uploads.index_claims_more", claimed=_mb(count * 8), size=_mb(self.size))
        raw = self.fh.read(count * 8)
        return list(struct.unpack(f"<{count}Q", raw))


def _index_header(cur: _Cursor) -> tuple[int, int]:
    d, ntotal = cur.take("i"), cur.take("q")
    cur.take("q"), cur.take("q")  # two unused fields faiss still writes
    cur.take("B")  # is_trained
    if cur.take("i") > 1:  # metric types past L2/IP carry an argument
        cur.take("f")
    if not 1 <= d <= MAX_INDEX_DIM or ntotal < 0:
        raise ModelFileError("uploads.index_bad_header")
    if ntotal * d * 4 > cur.size:  # every vector is stored in full in the layouts we read
        raise ModelFileError("uploads.index_claims_more", claimed=_mb(ntotal * d * 4), size=_mb(cur.size))
    return d, ntotal


def _read_flat(cur: _Cursor) -> IndexLayout:
    d, ntotal = _index_header(cur)
    floats = cur.take("Q")
    if floats != ntotal * d:
        raise ModelFileError("uploads.index_bad_header")
    cur.skip(floats, 4)
    return IndexLayout("flat", d, ntotal)


def _read_inverted_lists(cur: _Cursor, nlist: int, code_size: int) -> int:
    kind = cur.fourcc()
    if kind != b"ilar":  # "ilod" names another file on disk; "il00" holds no vectors
        raise ModelFileError("uploads.index_unsupported", kind=kind.decode("latin-1"))
    if cur.take("Q") != nlist or cur.take("Q") != code_size:
        raise ModelFileError("uploads.index_bad_header")
    sizes = [0] * nlist
    list_type = cur.fourcc()
    if list_type == b"full":
        if cur.take("Q") != nlist:
            raise ModelFileError("uploads.index_bad_header")
        sizes = cur.sizes(nlist)
    elif list_type == b"sprs":
        count = cur.take("Q")
        if count % 2 or count > 2 * nlist:
            raise ModelFileError("uploads.index_bad_header")
        pairs = cur.sizes(count)
        for at, n in zip(pairs[::2], pairs[1::2]):
            if at >= nlist:
                raise ModelFileError("uploads.index_bad_header")
            sizes[at] = n
    else:
        raise ModelFileError("uploads.index_bad_header")
    total = sum(sizes)
    cur.skip(total, code_size + 8)  # each vector's codes and its 64-bit id
    return total


def _read_ivf_flat(cur: _Cursor, depth: int) -> IndexLayout:
    d, ntotal = _index_header(cur)
    nlist = cur.take("Q")
    cur.take("Q")  # nprobe
    if not 1 <= nlist <= MAX_INDEX_LISTS:
        raise ModelFileError("uploads.index_too_many_lists", lists=nlist, limit=MAX_INDEX_LISTS)
    quantizer = _read_layout(cur, depth + 1)
    if quantizer.kind != "flat" or quantizer.d != d or quantizer.ntotal not in (0, nlist):
        raise ModelFileError("uploads.index_bad_header")
    map_type = cur.take("B")  # direct map: none, array or hashtable
    if map_type > 2:
        raise ModelFileError("uploads.index_bad_header")
    cur.skip(cur.take("Q"), 8)
    if map_type == 2:
        cur.skip(cur.take("Q"), 16)
    if _read_inverted_lists(cur, nlist, d * 4) != ntotal:
        raise ModelFileError("uploads.index_bad_header")
    return IndexLayout("IVF flat", d, ntotal)


def _read_id_map(cur: _Cursor, depth: int) -> IndexLayout:
    d, ntotal = _index_header(cur)
    inner = _read_layout(cur, depth + 1)
    if inner.d != d or inner.ntotal != ntotal or cur.take("Q") != ntotal:
        raise ModelFileError("uploads.index_bad_header")
    cur.skip(ntotal, 8)
    return IndexLayout("ID map", d, ntotal)


def _read_layout(cur: _Cursor, depth: int = 0) -> IndexLayout:
    if depth >= MAX_INDEX_NESTING:
        raise ModelFileError("uploads.index_bad_header")
    kind = cur.fourcc()
    if kind in FLAT_KINDS:
        return _read_flat(cur)
    if kind == IVF_FLAT:
        return _read_ivf_flat(cur, depth)
    if kind in ID_MAPS:
        return _read_id_map(cur, depth)
    raise ModelFileError("uploads.index_unsupported", kind=kind.decode("latin-1"))


def check_faiss_index(path: str | Path, feature_dim: int | None = None) -> IndexLayout:
    """Walk a faiss ``.index`` (flat, IVF-flat, ID map: what RVC writes) and refuse it unless
    every size it declares fits in the file; call before ``faiss.read_index``."""
    path = Path(path)
    size = _file_size(path, ".index")
    if size > MAX_INDEX_BYTES:
        raise ModelFileError("uploads.model_too_large", kind=".index", size=_mb(size), limit=_mb(MAX_INDEX_BYTES))
    try:
        with open(path, "rb") as fh:
            cur = _Cursor(fh, size)
            layout = _read_layout(cur)
            if cur.left:
                raise ModelFileError("uploads.index_trailing")
    except OSError:
        raise ModelFileError("uploads.model_unreadable", kind=".index") from None
    if feature_dim is not None and layout.d != feature_dim:
        raise ModelFileError("uploads.index_wrong_dim", dim=layout.d, needed=feature_dim)
    if layout.ntotal == 0:
        raise ModelFileError("uploads.index_empty")
    return layout


# -- torch .pth (a zip) --------------------------------------------------------------------------
def _zip_directory(fh, size: int) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the zip's end record (None: not a zip), read
    before ``zipfile`` builds an object per entry: a directory of millions of tiny entries is
    itself a memory attack, and ``zipfile`` walks the directory's bytes whatever count it states."""
    tail_len = min(size, 22 + 0xFFFF)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    count, directory_bytes = struct.unpack_from("<HI", tail, at + 10)
    if count != 0xFFFF and directory_bytes != 0xFFFFFFFF:
        return count, directory_bytes
    loc = tail.rfind(b"PK\x06\x07", 0, at)  # zip64: the real numbers are in the zip64 end record
    if loc < 0 or len(tail) - loc < 20:
        return None
    record_at = struct.unpack_from("<Q", tail, loc + 8)[0]
    if record_at + 56 > size:
        return None
    fh.seek(record_at)
    record = fh.read(56)
    if record[:4] != b"PK\x06\x06":
        return None
    return struct.unpack_from("<Q", record, 32)[0], struct.unpack_from("<Q", record, 40)[0]


def check_torch_zip(path: str | Path, max_bytes: int = MAX_MODEL_BYTES) -> int:
    """Refuse a ``.pth`` whose records would expand beyond what its size allows; returns the
    total bytes torch will allocate for them. Call before ``torch.load``."""
    import zipfile

    path = Path(path)
    size = _file_size(path, ".pth")
    if size > max_bytes:
        raise ModelFileError("uploads.model_too_large", kind=".pth", size=_mb(size), limit=_mb(max_bytes))
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            directory = _zip_directory(fh, size)
    except OSError:
        raise ModelFileError("uploads.model_unreadable", kind=".pth") from None
    if directory is None:
        if head[:1] == b"\x80":  # a bare pickle: torch's pre-1.6 format sizes storages from the pickle
            raise ModelFileError("uploads.pth_legacy")
        raise ModelFileError("uploads.pth_not_model")
    count, directory_bytes = directory
    if count > MAX_ZIP_ENTRIES:
        raise ModelFileError("uploads.pth_too_many_records", count=count, limit=MAX_ZIP_ENTRIES)
    if directory_bytes > MAX_ZIP_ENTRIES * ZIP_ENTRY_BYTES:
        raise ModelFileError("uploads.pth_directory_too_big", size=_mb(directory_bytes))
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        raise ModelFileError("uploads.pth_not_model") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise ModelFileError("uploads.pth_too_many_records", count=len(infos), limit=MAX_ZIP_ENTRIES)
    if not any(info.filename.endswith("data.pkl") for info in infos):
        raise ModelFileError("uploads.pth_not_model")
    total = 0
    for info in infos:
        declared = info.file_size
        if info.compress_type == zipfile.ZIP_STORED and declared != info.compress_size:
            raise ModelFileError("uploads.pth_record_lies", record=info.filename[-60:])
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError("uploads.pth_not_model")
        if info.compress_type == zipfile.ZIP_DEFLATED and declared > ZIP_SLACK_BYTES \
                and declared > ZIP_EXPANSION * max(info.compress_size, 1):
            raise ModelFileError("uploads.pth_record_inflates", record=info.filename[-60:],
                                 claimed=_mb(declared), stored=_mb(info.compress_size))
        total += declared
    allowed = min(max_bytes, size * ZIP_EXPANSION + ZIP_SLACK_BYTES)
    if total > allowed:
        raise ModelFileError("uploads.pth_inflates", claimed=_mb(total), size=_mb(size))
    return total


# -- .safetensors ----------------------------------------------------------------------------------
def _check_tensor(name: str, entry, data_size: int) -> tuple[int, int]:
    if not isinstance(entry, dict):
        raise ModelFileError("uploads.safetensors_bad_tensor", name=name[:80])
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in SAFETENSORS_DTYPE_BYTES or not isinstance(shape, list) \
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape) \
            or not isinstance(offsets, list) or len(offsets) != 2 \
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in offsets):
        raise ModelFileError("uploads.safetensors_bad_tensor", name=name[:80])
    begin, end = offsets
    count = 1
    for n in shape:
        count *= n
    if not 0 <= begin <= end <= data_size or count * SAFETENSORS_DTYPE_BYTES[dtype] != end - begin:
        raise ModelFileError("uploads.safetensors_bad_tensor", name=name[:80])
    return begin, end


def read_safetensors_header(path: str | Path, max_header: int = MAX_SAFETENSORS_HEADER) -> dict:
    """The header of a ``.safetensors`` file, refused unless it is bounded, shallow, and every
    tensor's dtype × shape fills exactly its own byte range inside the file."""
    path = Path(path)
    size = _file_size(path, ".safetensors")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise ModelFileError("uploads.safetensors_short")
            (length,) = struct.unpack("<Q", raw)
            if not 2 <= length <= min(max_header, size - 8):
                raise ModelFileError("uploads.safetensors_bad_length")
            text = fh.read(length)
    except OSError:
        raise ModelFileError("uploads.model_unreadable", kind=".safetensors") from None
    try:
        header = json.loads(text.decode("utf-8"))
    except RecursionError:  # brackets nested past the parser's limit; the checks below refuse any depth > 3
        raise ModelFileError("uploads.safetensors_nested") from None
    except (UnicodeDecodeError, ValueError):
        raise ModelFileError("uploads.safetensors_unreadable") from None
    if not isinstance(header, dict):
        raise ModelFileError("uploads.safetensors_unreadable")
    # the layout is exactly {name: {dtype, shape: [int], data_offsets: [int, int]}} plus
    # {"__metadata__": {str: str}}: nothing nests deeper than 3
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelFileError("uploads.safetensors_bad_metadata")
    data_size = size - 8 - length
    spans = sorted(_check_tensor(name, entry, data_size) for name, entry in header.items() if name != "__metadata__")
    for (_, end), (begin, _) in zip(spans, spans[1:]):
        if begin < end:  # overlapping ranges: two tensors claim the same bytes
            raise ModelFileError("uploads.safetensors_overlap")
    return header
