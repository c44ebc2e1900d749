"""safetensors files, read as zero-copy views and written one tensor at a time.

The format is an 8-byte little-endian header length, a JSON header ({name: {dtype, shape,
data_offsets}}, optional "__metadata__"), then the raw bytes. We parse it ourselves rather than
through `safetensors.safe_open`: its numpy `get_tensor` copies each tensor out of its mapping
(measured: 2x the tensor's size in RSS until the handle closes), while a view into our own
`mmap` costs nothing, keeps bf16 as bf16 (ml_dtypes), and lets us hand the pages back to the
kernel after each tensor, so reading a 10 GB file never holds 10 GB of it. Writes go to a
temporary file renamed over the output at the end, so a failed export leaves nothing behind.

This is the package's one safetensors reader: the DiT converter, the text encoders and the Wan
VAE all read through `SafetensorsReader`, and `weight_files` is the one place a folder or a
sharded `*.safetensors.index.json` becomes a list of files.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import ml_dtypes
import numpy as np

from unityvideo_jax.storage.atomic import atomic_output
from unityvideo_jax.storage.paths import is_url
from unityvideo_jax.storage.staging import listing, stage

DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "I16": np.dtype(np.int16),
    "U16": np.dtype(np.uint16),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I32": np.dtype(np.int32),
    "U32": np.dtype(np.uint32),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
    "I64": np.dtype(np.int64),
    "U64": np.dtype(np.uint64),
}
# safetensors writes wider dtypes first (its dtype enum order, descending), then by name.
_RANK = {name: rank for rank, name in enumerate(DTYPES)}
_CODES = {dtype: code for code, dtype in DTYPES.items()}
_MAX_HEADER = 100 << 20
_PICKLE_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_PICKLE_FIX = (
    "this loader never unpickles. Convert it once, where you trust the file, with "
    "`safetensors.torch.save_file(torch.load(PATH, weights_only=True), OUT)` and pass OUT"
)


def dtype_code(dtype) -> str:
    """The safetensors name of a numpy dtype (bfloat16 from ml_dtypes is BF16)."""
    return _CODES[np.dtype(dtype)]


class _File:
    """One safetensors file: its parsed header and a read-only mapping of its bytes."""

    def __init__(self, path: Path):
        self.path = path
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(8)
            if head.startswith(_PICKLE_MAGIC):
                raise ValueError(f"{path} is a PyTorch pickle checkpoint, not safetensors: {_PICKLE_FIX}")
            if len(head) < 8:
                raise ValueError(f"{path} is not a safetensors file ({size} bytes); pass a .safetensors file")
            (length,) = struct.unpack("<Q", head)
            if length > _MAX_HEADER or 8 + length > size:
                raise ValueError(
                    f"{path} is not a complete safetensors file (header of {length} bytes, file of {size}): "
                    "it is truncated or another format; copy or download it again"
                )
            try:
                header = json.loads(handle.read(length))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise ValueError(f"{path} has a corrupt safetensors header ({err}); copy or download it again") from None
        if not isinstance(header, dict):
            raise ValueError(f"{path} has a corrupt safetensors header (not a JSON object); copy or download it again")
        self.metadata = header.pop("__metadata__", None) or {}
        self.start = 8 + length
        self.tensors = {name: _parse_entry(path, name, info) for name, info in header.items()}
        end = max((stop for _, _, (_, stop) in self.tensors.values()), default=0)
        if self.start + end > size:
            last = max(self.tensors, key=lambda n: self.tensors[n][2][1])
            raise ValueError(
                f"{path} is truncated: tensor {last} ends at byte {self.start + end} but the file has {size} bytes; "
                "copy or download it again"
            )
        with open(path, "rb") as handle:  # the mapping keeps its own descriptor
            self.map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

    def view(self, name: str) -> np.ndarray:
        dtype, shape, (begin, end) = self.tensors[name]
        return np.frombuffer(self.map, dtype, count=math.prod(shape), offset=self.start + begin).reshape(shape)

    def release(self, name: str) -> None:
        """Drop this tensor's pages from our resident set (they stay in the page cache)."""
        _, _, (begin, end) = self.tensors[name]
        first = (self.start + begin) // mmap.PAGESIZE * mmap.PAGESIZE
        if end > begin:
            self.map.madvise(mmap.MADV_DONTNEED, first, self.start + end - first)

    def close(self) -> None:
        try:
            self.map.close()
        except BufferError:  # a caller still holds a view; the mapping goes with the last one
            pass


def _parse_entry(path: Path, name: str, info) -> tuple:
    try:
        dtype, shape, (begin, end) = DTYPES[info["dtype"]], tuple(int(s) for s in info["shape"]), info["data_offsets"]
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"{path}: tensor {name} has an unreadable header entry {info!r} (dtypes: {', '.join(DTYPES)})"
        ) from None
    if end - begin != math.prod(shape) * dtype.itemsize or begin < 0:
        raise ValueError(f"{path}: tensor {name}'s byte range {begin}..{end} does not fit its shape {list(shape)}")
    return dtype, shape, (int(begin), int(end))


def weight_files(path: str | Path) -> list[Path]:
    """The safetensors files behind `path`: a file, a sharded `*.safetensors.index.json`, or a folder
    holding one of either (a Hugging Face or diffusers `save_pretrained` folder). Every sharded
    checkpoint in the package is resolved here. A gs:// path is staged to the local cache first
    (storage/staging.py: only the safetensors files, verified, reused by later calls)."""
    if is_url(path):
        path = _staged(str(path))
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"checkpoint not found: {path}; pass a .safetensors file, a *.safetensors.index.json or a folder holding one"
        )
    if path.is_dir():
        path = _folder_weights(path)
        if path.suffix == ".safetensors":
            return [path]
    if path.name.endswith(".index.json"):
        return _shards(path)
    return [path]


def _staged(url: str) -> Path:
    """The local copy of the weights at `url`, in the same shape: a file, an index beside its shards,
    or a folder holding its safetensors files (and index)."""
    if url.endswith(".safetensors"):
        return stage(url, what="checkpoint")
    if url.endswith(".index.json"):
        index = stage(url, what="checkpoint")
        parent = url.rsplit("/", 1)[0]
        try:
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
            return index  # _shards names the problem
        stage(parent, names, what="checkpoint")
        return index
    names = [n for n in listing(url, what="checkpoint") if n.endswith((".safetensors", ".safetensors.index.json"))]
    if not names:
        raise FileNotFoundError(f"checkpoint not found: {url} holds no .safetensors file or index; pass the file, "
                                "its index or a folder holding one")
    return stage(url, names, what="checkpoint")


def _folder_weights(folder: Path) -> Path:
    """The one index, else the one file, in `folder`; anything else is ambiguous or empty."""
    indices = sorted(folder.glob("*.safetensors.index.json"))
    singles = sorted(folder.glob("*.safetensors"))
    if len(indices) == 1:  # its shards are the singles beside it
        return indices[0]
    if len(singles) == 1 and not indices:
        return singles[0]
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in (".pth", ".pt", ".bin", ".ckpt"))
    hint = f"; it holds PyTorch pickles {pickles[:3]}: {_PICKLE_FIX}" if pickles else ""
    if not (indices or singles or pickles):  # e.g. a whole diffusers pipeline instead of its vae/ folder
        inner = sorted(d.name for d in folder.iterdir() if d.is_dir() and next(d.glob("*.safetensors*"), None))
        hint = f"; its subfolders {inner[:5]} hold weights: pass the one you mean" if inner else ""
    raise ValueError(
        f"{folder} should hold one *.safetensors file or one *.safetensors.index.json, found "
        f"{len(singles)} and {len(indices)}{hint or '; pass the file itself'}"
    )


def _shards(index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        names = sorted(set(weight_map.values()))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        raise ValueError(
            f"{index} is not a safetensors index (no weight_map of tensor -> shard); pass the index or a file"
        ) from None
    files = [index.parent / name for name in names]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{index} lists shards that do not exist: {', '.join(missing[:3])}; copy or download them beside it"
        )
    return files


class SafetensorsReader(Mapping):
    """Names, shapes, dtypes and zero-copy views of the tensors behind a file, index or folder.

    A read-only mapping too (`reader[name]` is `reader.view(name)`), so code written for a dict of
    arrays reads a checkpoint without loading it whole.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._files: list[_File] = []
        self._where: dict[str, _File] = {}
        try:
            for file in weight_files(path):
                self._files.append(_File(file))
                for name in self._files[-1].tensors:
                    if name in self._where:
                        raise ValueError(f"tensor {name} is in both {self._where[name].path} and {file}")
                    self._where[name] = self._files[-1]
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> SafetensorsReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._files[0].metadata) if self._files else {}

    def names(self) -> list[str]:
        return list(self._where)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.view(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, name) -> bool:
        return name in self._where

    def shape(self, name: str) -> tuple[int, ...]:
        return self._where[name].tensors[name][1]

    def dtype(self, name: str) -> np.dtype:
        return self._where[name].tensors[name][0]

    def view(self, name: str) -> np.ndarray:
        """A read-only array over the file's bytes: no copy until someone writes it elsewhere."""
        return self._where[name].view(name)

    def release(self, name: str) -> None:
        self._where[name].release(name)

    def close(self) -> None:
        for file in self._files:
            file.close()
        self._files, self._where = [], {}


def file_layout(
    specs: Mapping[str, tuple[tuple[int, ...], np.dtype]], metadata: Mapping[str, str] | None = None
) -> tuple[list[str], bytes]:
    """The tensor order and the bytes before the first tensor (length prefix and header) of the
    file `write_safetensors` writes for `specs` (name -> (shape, dtype)) and `metadata`."""
    order = sorted(specs, key=lambda n: (-_RANK[dtype_code(specs[n][1])], n))
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    for name in order:
        shape, dtype = specs[name]
        size = math.prod(shape) * np.dtype(dtype).itemsize
        header[name] = {"dtype": dtype_code(dtype), "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # the data starts 8-byte aligned, as safetensors pads it
    return order, struct.pack("<Q", len(blob)) + blob


def write_safetensors(
    path: str | Path,
    specs: Mapping[str, tuple[tuple[int, ...], np.dtype]],
    produce: Callable[[str], np.ndarray],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write tensors `specs` (name -> (shape, dtype)) to `path`, asking `produce(name)` for each in turn.

    Only one produced tensor is alive at a time. Byte-identical to `safetensors.numpy.save_file`
    for the same tensors without metadata. The file appears at `path` only once complete.
    """
    order, head = file_layout(specs, metadata)
    with atomic_output(path, what="output") as tmp, open(tmp, "wb") as out:  # a gs:// path is uploaded whole
        out.write(head)
        for name in order:
            _write_tensor(out, name, produce(name), specs[name])
        out.flush()
        os.fsync(out.fileno())


def _write_tensor(out, name: str, value: np.ndarray, spec) -> None:
    shape, dtype = spec
    if tuple(value.shape) != tuple(shape) or value.dtype != np.dtype(dtype):
        raise ValueError(f"tensor {name} came out {value.dtype}{list(value.shape)}, expected {np.dtype(dtype)}{list(shape)}")
    out.write(np.ascontiguousarray(value).reshape(-1).view(np.uint8).data)
