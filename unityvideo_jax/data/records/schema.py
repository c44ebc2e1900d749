"""One training record: the schema every storage format holds, and its byte form for ArrayRecord.

A record is a flat dict:
  video/rgb         (F, H, W, C): uint8 pixels (pixel latent space) or float16/float32 latents
  video/<modality>  one per modality the clip has (our names, see modalities.py), like video/rgb
  text              (L, D) float16/float32: the caption embedding, valid tokens only (padded at load)
  caption, source, id   str
  truth/<name>      optional ground truth for evaluation (TRUTH below)

Bytes: MAGIC, a little-endian u32 header length and u32 CRC-32 of everything after them, a JSON
header (strings, and each array's dtype, shape and offset), then the arrays, 64-byte aligned, so
decoding is a checksum and zero-copy views.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from unityvideo_jax import modalities

MAGIC = b"UVREC1\0\0"
VIDEO = "video/"
TRUTH = "truth/"
RGB = "video/rgb"
STRINGS = ("caption", "source", "id")
VIDEO_DTYPES = ("uint8", "float16", "float32")
TEXT_DTYPES = ("float16", "float32")
# Ground truth evaluation reads (UniSynth only): name -> (dtype, rank).
TRUTH_SPEC = {
    "depth": ("float32", 3),  # (F, H, W) metres
    "flow": ("float32", 4),  # (F, H, W, 2) pixels (x, y) to the next frame
    "instances": ("uint16", 3),  # (F, H, W) 0 = background
    "keypoints": ("float32", 4),  # (F, P, K, 2) image (x, y)
    "visibility": ("bool", 3),  # (F, P, K)
    "parts": ("uint8", 3),  # (F, H, W) 0 = no body part
    "uv": ("float16", 4),  # (F, H, W, 2) in [0, 1]
}
_ALIGN = 64
_PREFIX = struct.Struct("<8sII")


class RecordError(ValueError):
    """A record that does not decode or does not follow the schema."""


def video_key(modality: str) -> str:
    return VIDEO + modalities.get(modality).name


def available_modalities(record: dict) -> tuple[str, ...]:
    """The modalities (our names, registry order) whose video the record holds."""
    return tuple(name for name in modalities.NAMES if VIDEO + name in record)


def validate(record: dict) -> None:
    """Raise RecordError unless `record` follows the schema above."""
    for key in STRINGS:
        if not isinstance(record.get(key), str):
            raise RecordError(f"record field {key!r} must be a string, got {type(record.get(key)).__name__}")
    if RGB not in record:
        raise RecordError("record has no video/rgb")
    rgb = record[RGB]
    for key, value in record.items():
        if key in STRINGS:
            continue
        if not isinstance(value, np.ndarray):
            raise RecordError(f"record field {key!r} must be a numpy array, got {type(value).__name__}")
        if key.startswith(VIDEO):
            name = key[len(VIDEO) :]
            if name != "rgb" and name not in modalities.NAMES:
                known = ", ".join(modalities.NAMES)
                raise RecordError(f"record field {key!r}: unknown modality; expected one of {known}")
            if value.dtype.name not in VIDEO_DTYPES or value.ndim != 4:
                raise RecordError(f"{key} must be a 4-D {'/'.join(VIDEO_DTYPES)} array, got {value.dtype} {value.shape}")
            if value.shape != rgb.shape or value.dtype != rgb.dtype:
                raise RecordError(f"{key} is {value.dtype} {value.shape} but video/rgb is {rgb.dtype} {rgb.shape}")
        elif key.startswith(TRUTH):
            spec = TRUTH_SPEC.get(key[len(TRUTH) :])
            if spec is None:
                raise RecordError(f"record field {key!r}: unknown ground truth; expected one of {', '.join(TRUTH_SPEC)}")
            if value.dtype.name != spec[0] or value.ndim != spec[1]:
                raise RecordError(f"{key} must be a {spec[1]}-D {spec[0]} array, got {value.dtype} {value.shape}")
        elif key == "text":
            if value.dtype.name not in TEXT_DTYPES or value.ndim != 2:
                raise RecordError(f"text must be a 2-D float16/float32 (tokens, width) array, got {value.dtype} {value.shape}")
        else:
            raise RecordError(f"record field {key!r} is not part of the schema")
    if "text" not in record:
        raise RecordError("record has no text embedding")


def to_bytes(record: dict) -> bytes:
    """The byte form of a valid record."""
    validate(record)
    arrays, offset = [], 0
    for key in sorted(k for k in record if k not in STRINGS):
        value = np.ascontiguousarray(record[key])
        arrays.append((key, value, offset))
        offset += -(-value.nbytes // _ALIGN) * _ALIGN
    header = {
        "strings": {key: record[key] for key in STRINGS},
        "arrays": [[key, value.dtype.name, list(value.shape), start] for key, value, start in arrays],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-(len(head) + _PREFIX.size) % _ALIGN)  # arrays start aligned
    body = bytearray(offset)
    for _, value, start in arrays:
        body[start : start + value.nbytes] = value.tobytes()
    crc = zlib.crc32(body, zlib.crc32(head))
    return _PREFIX.pack(MAGIC, len(head), crc) + head + bytes(body)


def from_bytes(data: bytes) -> dict:
    """A record from its byte form; RecordError if the bytes are damaged. Arrays are read-only views."""
    if len(data) < _PREFIX.size:
        raise RecordError(f"record is {len(data)} bytes, shorter than its {_PREFIX.size}-byte prefix")
    magic, head_len, crc = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise RecordError(f"record does not start with {MAGIC!r} (found {magic!r}): not a unityvideo record")
    view = memoryview(data)
    if zlib.crc32(view[_PREFIX.size :]) != crc:
        raise RecordError("record checksum mismatch: the bytes are damaged")
    start = _PREFIX.size + head_len
    try:
        header = json.loads(bytes(view[_PREFIX.size : start]))
        record = dict(header["strings"])
        for key, dtype, shape, offset in header["arrays"]:
            count = int(np.prod(shape, dtype=np.int64))
            record[key] = np.frombuffer(data, np.dtype(dtype), count, start + offset).reshape(shape)
    except (KeyError, TypeError, ValueError) as err:
        raise RecordError(f"record header does not parse: {err}") from err
    validate(record)
    return record
