"""The CUDA kernels inside a shared library, by GPU architecture: what a machine with one GPU never loads.

A CUDA library keeps its kernels in the ELF section ``.nv_fatbin``: fat binaries (magic 0xBA55ED50), each a list
of entries, one per architecture (ELF cubins, or PTX), every entry a header followed by its payload. onnxruntime-gpu
1.31.1's CUDA provider carries cubins for sm_75, 80, 86, 89, 90 and 120 and no PTX; an H100 or H200 (sm_90) loads
only the sm_90 ones. ``thinned`` keeps every header and every byte offset and zeroes the other architectures'
payloads, which xz then packs to almost nothing. Whether the CUDA driver accepts such a library has not been tried:
``gpu_wheels`` measures it as a route, the plan carries the library untouched.
"""

from __future__ import annotations

import struct
from collections import Counter

__all__ = ["FATBIN_MAGIC", "arch_bytes", "fatbin_section", "thinned"]

FATBIN_MAGIC = 0xBA55ED50
_KINDS = {1: "ptx", 2: "cubin"}


def fatbin_section(elf: bytes) -> tuple[int, int]:
    """(offset, size) of ``.nv_fatbin`` in a 64-bit little-endian ELF file; ValueError when it has none."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise ValueError("not a 64-bit ELF file")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx][4]
    for name, _, _, _, offset, size, *_ in headers:
        end = elf.index(b"\0", strtab + name)
        if elf[strtab + name:end] == b".nv_fatbin":
            return offset, size
    raise ValueError("no .nv_fatbin section")


def _entries(elf: bytes):
    """(kind, sm, payload offset, payload size) of every entry of every fat binary in the section."""
    start, size = fatbin_section(elf)
    pos, end = start, start + size
    while pos + 16 <= end:
        magic, _, header, fat_size = struct.unpack_from("<IHHQ", elf, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # fat binaries are 8-byte aligned, with padding between them
            continue
        entry, stop = pos + header, pos + header + fat_size
        while entry < stop:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", elf, entry)
            sm, = struct.unpack_from("<I", elf, entry + 28)
            yield _KINDS.get(kind, str(kind)), sm, entry + entry_header, payload
            entry += entry_header + payload
        pos = stop


def arch_bytes(elf: bytes) -> dict[str, int]:
    """Payload bytes per ``cubin sm_90``-style label."""
    counts: Counter = Counter()
    for kind, sm, _, size in _entries(elf):
        counts[f"{kind} sm_{sm}"] += size
    return dict(sorted(counts.items()))


def thinned(elf: bytes, keep_sm: int = 90) -> bytes:
    """The library with every entry's payload zeroed except ``keep_sm``'s: same size, same offsets."""
    out = bytearray(elf)
    for _, sm, offset, size in _entries(elf):
        if sm != keep_sm:
            out[offset:offset + size] = bytes(size)
    return bytes(out)
