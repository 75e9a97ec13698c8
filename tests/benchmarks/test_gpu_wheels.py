"""The wheel route's pieces on small inputs: load counting, packing and installing, fatbin thinning."""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path

import pytest

from revive.benchmarks import fatbin, gpu_wheels, wheel_install

MiB = 2**20


def test_device_wheels_needs_six_transfers_for_onnxruntime_gpu():
    # onnxruntime-gpu 1.31.1 and segmentation-models-pytorch 0.6.0, as downloaded for cp312 (bytes)
    assert gpu_wheels.device_wheels_loads([255_569_273, 154_621]) == 6
    assert gpu_wheels.device_wheels_loads([10 * MiB, 30 * MiB, 10 * MiB]) == 2
    assert gpu_wheels.fill_loads([5, 5, 5], 10) == 2


def _archive(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def packed(tmp_path, monkeypatch):
    import random

    rng = random.Random(0)
    cache = tmp_path / "xz"
    cache.mkdir()
    core = {"onnxruntime/__init__.py": b"x = 1\n", "onnxruntime/capi/big.so": rng.randbytes(5000)}
    _archive(cache / "core.tar.xz", core)
    _archive(cache / "rtx.tar.xz", {"tensorrt_rtx_libs/lib.so": rng.randbytes(3000)})
    loads = gpu_wheels.pack(cache, 2048, tmp_path / "whl")
    wh = tmp_path / "wh"
    wh.mkdir()
    for load in loads:
        for f in load.iterdir():
            (wh / f.name).write_bytes(f.read_bytes())
    return {"loads": loads, "wh": wh, "core": core, "site": tmp_path / "site"}


def test_pack_fills_every_load_to_the_capacity_and_no_further(packed):
    sizes = [sum(f.stat().st_size for f in load.iterdir() if ".part" in f.name) for load in packed["loads"]]
    assert len(sizes) >= 4 and all(s <= 2048 for s in sizes)
    assert all(s == 2048 for s in sizes[:-1])  # parts cross archives to fill each call
    assert {f.name for f in packed["loads"][0].iterdir()} >= {"MANIFEST.json", "install.py"}


def test_install_checks_every_part_and_unpacks_what_is_complete(packed, capsys):
    assert wheel_install.main([str(packed["wh"]), str(packed["site"])]) == 0
    for name, data in packed["core"].items():
        assert (packed["site"] / name).read_bytes() == data
    assert (packed["site"] / "tensorrt_rtx_libs/lib.so").is_file()
    assert "core.tar.xz, rtx.tar.xz unpacked" in capsys.readouterr().out


def test_install_leaves_out_an_archive_with_a_missing_part(packed, capsys):
    last = sorted(packed["wh"].glob("rtx.tar.xz.part*"))[-1]
    last.unlink()
    assert wheel_install.main([str(packed["wh"]), str(packed["site"])]) == 0  # core is there
    out = capsys.readouterr().out
    assert f"rtx.tar.xz not installed: {last.name} missing" in out
    assert not (packed["site"] / "tensorrt_rtx_libs").exists()


def test_install_refuses_a_damaged_core_part(packed, capsys):
    part = packed["wh"] / "core.tar.xz.part00"
    part.write_bytes(b"\0" + part.read_bytes()[1:])
    assert wheel_install.main([str(packed["wh"]), str(packed["site"])]) == 1
    assert "core.tar.xz.part00 damaged" in capsys.readouterr().out


def _elf_with_fatbin(entries: list[tuple[int, int, bytes]]) -> bytes:
    """A minimal ELF64 whose .nv_fatbin holds one fat binary with (kind, sm, payload) entries."""
    body = b""
    for kind, sm, payload in entries:
        header = bytearray(64)
        struct.pack_into("<HHIQ", header, 0, kind, 0x0101, 64, len(payload))
        struct.pack_into("<I", header, 28, sm)
        body += bytes(header) + payload
    section = struct.pack("<IHHQ", fatbin.FATBIN_MAGIC, 1, 16, len(body)) + body
    names = b"\0.nv_fatbin\0.shstrtab\0"
    data_off = 64
    names_off = data_off + len(section)
    shoff = names_off + len(names)
    shoff += (-shoff) % 8
    ehdr = bytearray(64)
    ehdr[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", ehdr, 0x28, shoff)
    struct.pack_into("<HHH", ehdr, 0x3A, 64, 3, 2)
    sections = bytes(64) + struct.pack("<IIQQQQIIQQ", 1, 1, 2, 0, data_off, len(section), 0, 0, 8, 0) + \
        struct.pack("<IIQQQQIIQQ", 12, 3, 0, 0, names_off, len(names), 0, 0, 1, 0)
    blob = bytes(ehdr) + section + names
    return blob + bytes(shoff - len(blob)) + sections


def test_fatbin_lists_architectures_and_thins_to_one():
    elf = _elf_with_fatbin([(2, 80, b"\x11" * 100), (2, 90, b"\x22" * 300), (1, 90, b"\x33" * 50),
                            (2, 120, b"\x44" * 70)])
    assert fatbin.arch_bytes(elf) == {"cubin sm_120": 70, "cubin sm_80": 100, "cubin sm_90": 300, "ptx sm_90": 50}
    thin = fatbin.thinned(elf, keep_sm=90)
    assert len(thin) == len(elf)
    assert thin.count(b"\x22" * 300) == 1 and thin.count(b"\x33" * 50) == 1
    assert b"\x11" not in thin and b"\x44" not in thin
    assert fatbin.arch_bytes(thin) == fatbin.arch_bytes(elf)  # headers and offsets untouched
    with pytest.raises(ValueError, match="not a 64-bit ELF"):
        fatbin.fatbin_section(b"not an elf")
