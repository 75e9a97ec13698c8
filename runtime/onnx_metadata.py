"""An ONNX file's ``metadata_props``, read without loading the model.

The card is all the runtime needs to know before it decides how to run a
model, and it sits in a top-level field of the ``ModelProto`` message. Walking
the protobuf wire format at the top level, skipping every other field by its
length, reads it from a memory map in microseconds, where building an
onnxruntime session (or ``onnx.load``) would read and copy every weight. Only
the runtime's own dependencies are needed.
"""

from __future__ import annotations

import mmap
from pathlib import Path

__all__ = ["OnnxFormatError", "read_metadata_props"]

_METADATA_PROPS = 14  # ModelProto.metadata_props: repeated StringStringEntryProto {1: key, 2: value}


class OnnxFormatError(ValueError):
    """The file is not an ONNX protobuf (its wire format does not parse)."""


def read_metadata_props(path: str | Path) -> dict[str, str]:
    """``{key: value}`` of the model's ``metadata_props`` (later entries win, as in onnx)."""
    with open(path, "rb") as handle:
        if handle.seek(0, 2) == 0:
            raise OnnxFormatError("empty file")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            props: dict[str, str] = {}
            for number, value in _fields(data, 0, len(data)):
                if number == _METADATA_PROPS:
                    entry = dict(_fields(data, *value))
                    key, text = entry.get(1), entry.get(2)
                    if key is not None:
                        props[_text(data, key)] = _text(data, text) if text is not None else ""
            return props


def _fields(data: mmap.mmap, start: int, end: int):
    """(field number, (start, end) of a length-delimited value, or None) for each field in data[start:end]."""
    pos = start
    while pos < end:
        tag, pos = _varint(data, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise OnnxFormatError("field number 0")
        if wire == 0:
            _, pos = _varint(data, pos, end)
            yield number, None
        elif wire == 1:
            pos += 8
            yield number, None
        elif wire == 5:
            pos += 4
            yield number, None
        elif wire == 2:
            length, pos = _varint(data, pos, end)
            if pos + length > end:
                raise OnnxFormatError("a field runs past the end of the file")
            yield number, (pos, pos + length)
            pos += length
        else:
            raise OnnxFormatError(f"wire type {wire}")
        if pos > end:
            raise OnnxFormatError("truncated")


def _varint(data: mmap.mmap, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise OnnxFormatError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _text(data: mmap.mmap, span: tuple[int, int]) -> str:
    try:
        return data[span[0]:span[1]].decode("utf-8")
    except UnicodeDecodeError:
        raise OnnxFormatError("metadata is not UTF-8") from None
