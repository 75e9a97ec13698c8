"""The CLIs against a hostile user (issue 15): a table of bad inputs, each run in-process.

Whatever the case, every ``main(argv)`` must end with a status in {0, 1, 2, 130}, print no
traceback, leave every file that existed before the run byte-for-byte unchanged, and leave no
partial (``.part``) file behind. Each case runs on a watchdog thread, so a hang (a FIFO read
that blocks) fails the test instead of stalling the suite.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import threading
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

ALLOWED = {0, 1, 2, 130}
TIMEOUT_S = 60


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height (a decompression bomb's header) with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _photo(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (20, 30), dtype=np.uint8)).save(path)
    return path


def _hostile_card(model: Path, out: Path, **changes) -> Path:
    import onnx

    from revive.runtime.card import CARD_KEY

    proto = onnx.load(str(model))
    prop = next(p for p in proto.metadata_props if p.key == CARD_KEY)
    prop.value = json.dumps({**json.loads(prop.value), **changes})
    onnx.save(proto, str(out))
    return out


# Each case: (name, program, setup(tmp, fixtures) -> argv). Paths in argv are made inside tmp.
def _infer_cases() -> list[tuple[str, Callable]]:
    def base(t, f):
        _photo(t / "photos" / "a.png")
        _photo(t / "photos" / "b.png", 1)
        return shutil.copy(f["onnx"], t / "m.onnx")

    def case(extra_setup, args):
        def setup(t, f):
            model = base(t, f)
            extra = extra_setup(t, f) if extra_setup else None
            return ["--engine", str(extra if isinstance(extra, Path) and extra.suffix == ".onnx" else model),
                    *[a.format(t=t) for a in args], "--no-progress"]
        return setup

    def scans(t, f):
        _photo(t / "photos" / "scans" / "a.png", 7)

    def fifo(t, f):
        os.mkfifo(t / "photos" / "y.png")

    def loops(t, f):
        (t / "photos" / "l1.png").symlink_to(t / "photos" / "l2.png")
        (t / "photos" / "l2.png").symlink_to(t / "photos" / "l1.png")

    def devzero(t, f):
        (t / "photos" / "zero.png").symlink_to("/dev/zero")

    def bomb(t, f):
        (t / "photos" / "bomb.png").write_bytes(_png_header_only(30000, 30000))

    def dir_model(t, f):
        (t / "x.onnx").mkdir()
        return t / "x.onnx"

    def fifo_model(t, f):
        os.mkfifo(t / "p.onnx")
        return t / "p.onnx"

    def empty_model(t, f):
        (t / "e.onnx").write_bytes(b"")
        return t / "e.onnx"

    def card(**changes):
        return lambda t, f: _hostile_card(f["onnx"], t / "h.onnx", **changes)

    def out_file(t, f):
        (t / "out").write_text("a file, not a folder")

    def read_only_out(t, f):
        (t / "ro").mkdir()
        (t / "ro").chmod(0o555)

    def report(t, f):
        (t / "old.json").write_text("not json, someone's notes")

    return [
        ("output is a user folder inside the input", case(scans, ["{t}/photos", "-o", "{t}/photos/scans"])),
        ("... with --overwrite", case(scans, ["{t}/photos", "-o", "{t}/photos/scans", "--overwrite"])),
        ("output is the input folder", case(None, ["{t}/photos", "-o", "{t}/photos", "--overwrite"])),
        ("summary is an input", case(None, ["{t}/photos", "-o", "{t}/out", "--summary", "{t}/photos/a.png"])),
        ("summary is the model", case(None, ["{t}/photos", "-o", "{t}/out", "--summary", "{t}/m.onnx"])),
        ("summary is an output", case(None, ["{t}/photos", "-o", "{t}/out", "--summary", "{t}/out/a.png"])),
        ("summary is a folder", case(None, ["{t}/photos", "-o", "{t}/out", "--summary", "{t}/photos"])),
        ("summary is not a report", case(report, ["{t}/photos", "-o", "{t}/out", "--summary", "{t}/old.json"])),
        ("FIFO among the inputs", case(fifo, ["{t}/photos", "-o", "{t}/out"])),
        ("FIFO named explicitly", case(fifo, ["{t}/photos/y.png", "{t}/photos/a.png", "-o", "{t}/out"])),
        ("symlink loop", case(loops, ["{t}/photos", "-o", "{t}/out"])),
        ("symlink to /dev/zero", case(devzero, ["{t}/photos", "-o", "{t}/out"])),
        ("30000 x 30000 PNG header", case(bomb, ["{t}/photos", "-o", "{t}/out"])),
        ("model is a folder", case(dir_model, ["{t}/photos", "-o", "{t}/out"])),
        ("model is a FIFO", case(fifo_model, ["{t}/photos", "-o", "{t}/out"])),
        ("model is empty", case(empty_model, ["{t}/photos", "-o", "{t}/out"])),
        ("card image_size 0", case(card(image_size=0), ["{t}/photos", "-o", "{t}/out"])),
        ("card image_size '64'", case(card(image_size="64"), ["{t}/photos", "-o", "{t}/out"])),
        ("card batch 10^9", case(card(batch={"min": 10**9, "opt": 10**9, "max": 10**9}),
                                 ["{t}/photos", "-o", "{t}/out"])),
        ("card batch strings", case(card(batch={"min": "1", "opt": "2", "max": "4"}),
                                    ["{t}/photos", "-o", "{t}/out"])),
        ("card is a list", case(card(inputs=[]), ["{t}/photos", "-o", "{t}/out"])),
        ("output is a file", case(out_file, ["{t}/photos", "-o", "{t}/out"])),
        ("output folder read-only", case(read_only_out, ["{t}/photos", "-o", "{t}/ro/out"])),
        ("missing input", case(None, ["{t}/nope", "-o", "{t}/out"])),
        ("batch size 0", case(None, ["{t}/photos", "-o", "{t}/out", "--batch-size", "0"])),
        ("unknown flag", case(None, ["{t}/photos", "-o", "{t}/out", "--frobnicate"])),
        ("no output flag", case(None, ["{t}/photos"])),
    ]


def _export_cases() -> list[tuple[str, Callable]]:
    def ckpt(t, f):
        return shutil.copy(f["ckpt"], t / "last.pt")

    def with_file(name, data):
        def setup(t, f):
            ckpt(t, f)
            p = t / name
            if data is None:
                p.mkdir()
            elif data == "fifo":
                os.mkfifo(p)
            else:
                p.write_bytes(data)
            return [str(p), "-o", str(t / "x.onnx")]
        return setup

    return [
        ("-o is the checkpoint", lambda t, f: [str(ckpt(t, f)), "-o", str(t / "last.pt")]),
        ("-o is a folder", lambda t, f: [str(ckpt(t, f)), "-o", str(t)]),
        ("--max-batch 0", lambda t, f: [str(ckpt(t, f)), "--max-batch", "0", "-o", str(t / "x.onnx")]),
        ("empty checkpoint", with_file("empty.pt", b"")),
        ("checkpoint is a folder", with_file("dir.pt", None)),
        ("checkpoint is a FIFO", with_file("fifo.pt", "fifo")),
        ("checkpoint is random bytes", with_file("junk.pt", os.urandom(256))),
        ("no arguments", lambda t, f: []),
        ("unknown flag", lambda t, f: ["--frobnicate"]),
    ]


def _train_cases() -> list[tuple[str, Callable]]:
    tiny = ["--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "2", "--max-steps", "1",
            "--workers", "0"]

    def run_folder(t, f):
        (t / "run").mkdir()
        (t / "run" / "last.pt").write_bytes(b"an earlier run")
        return ["pix2pix", "--data", "sample", *tiny, "--out", str(t / "run")]

    def junk_data(t, f):
        (t / "data").mkdir()
        (t / "data" / "a.png").write_text("no")
        (t / "data" / "b.jpg").write_bytes(b"")
        return ["pix2pix", "--data", str(t / "data"), *tiny, "--out", str(t / "r")]

    def fifo_data(t, f):
        os.mkfifo(t / "pipe")
        return ["pix2pix", "--data", str(t / "pipe"), *tiny, "--out", str(t / "r")]

    def bad_resume(t, f):
        (t / "junk.pt").write_bytes(os.urandom(64))
        return ["pix2pix", "--data", "sample", *tiny, "--out", str(t / "r"), "--resume", str(t / "junk.pt")]

    return [
        ("fresh run into an earlier run's folder", run_folder),
        ("folder of non-images", junk_data),
        ("data is a FIFO", fifo_data),
        ("resume from junk", bad_resume),
        ("--epochs 0", lambda t, f: ["pix2pix", "--data", "sample", *tiny, "--epochs", "0", "--out", str(t / "r")]),
        ("--image-size -64", lambda t, f: ["pix2pix", "--data", "sample", *tiny, "--image-size", "-64",
                                           "--out", str(t / "r")]),
        ("--workers 100000", lambda t, f: ["pix2pix", "--data", "sample", *tiny[:-2], "--workers", "100000",
                                           "--out", str(t / "r")]),
        ("missing data", lambda t, f: ["pix2pix", "--data", str(t / "nope"), *tiny, "--out", str(t / "r")]),
        ("unknown family", lambda t, f: ["gan9000"]),
    ]


def _bench_cases() -> list[tuple[str, Callable]]:
    return [("unknown flag", lambda t, f: ["speed", "--frobnicate"]),
            ("missing checkpoint", lambda t, f: ["speed", "--checkpoint", str(t / "nope.pt")])]


def _trt_cases() -> list[tuple[str, Callable]]:
    return [("no arguments", lambda t, f: []),
            ("missing source", lambda t, f: [str(t / "nope.pt")]),
            ("engine over its checkpoint", lambda t, f: [str(shutil.copy(f["ckpt"], t / "m.engine")),
                                                         "-o", str(t / "m.engine")])]


def _main(program: str) -> Callable[[list[str]], int]:
    if program == "runtime-infer":
        from revive.runtime.cli import main
    elif program == "to_onnx":
        from revive.export.to_onnx import main
    elif program == "to_trt":
        from revive.export.to_trt import main
    elif program == "revive-train":
        from revive.train.cli import main
    else:
        from revive.benchmarks.cli import main
    return main


CASES = [(program, name, setup) for program, cases in (
    ("runtime-infer", _infer_cases()), ("to_onnx", _export_cases()), ("revive-train", _train_cases()),
    ("revive-bench", _bench_cases()), ("to_trt", _trt_cases())) for name, setup in cases]


def _snapshot(root: Path) -> dict[str, str]:
    """sha256 of every regular file under ``root`` (links and special files are not followed)."""
    hashes = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


@pytest.mark.parametrize("program,name,setup", CASES, ids=[f"{p}: {n}" for p, n, _ in CASES])
def test_hostile_input(program, name, setup, tmp_path, tiny_onnx, tiny_checkpoints, capsys):
    work = tmp_path / "w"
    work.mkdir()
    argv = setup(work, {"onnx": tiny_onnx["rgb"], "ckpt": tiny_checkpoints["rgb"]})
    before = _snapshot(work)
    main = _main(program)
    result: dict = {}

    def body() -> None:
        try:
            result["code"] = main(argv)
        except SystemExit as exc:  # a main that raises instead of returning is itself a finding
            result["raised"] = f"SystemExit({exc.code})"
        except BaseException as exc:  # noqa: BLE001 - reported below
            result["raised"] = repr(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    try:
        assert not thread.is_alive(), f"{program} hung for {TIMEOUT_S} s on: {name}"
        err = capsys.readouterr().err
        assert "raised" not in result, result.get("raised")
        assert result["code"] in ALLOWED, (result["code"], err)
        assert "Traceback" not in err, err
        after = _snapshot(work)
        changed = [p for p, h in before.items() if after.get(p) != h]
        assert not changed, f"files changed or removed: {changed}"
        assert not list(work.rglob("*.part")), "partial output left behind"
    finally:
        for folder in work.rglob("*"):  # let pytest clean up read-only folders
            if folder.is_dir() and not folder.is_symlink():
                folder.chmod(0o755)
