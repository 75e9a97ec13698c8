"""runtime-infer end to end, in-process: awkward inputs, native size and luminance, chains, flags, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from revive.runtime.cli import main

from .helpers import SIZE, gray_of, luma, noise, smooth

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


def run(*args) -> int:
    return main([*map(str, args), "--no-progress"])


def make_corpus(root: Path) -> tuple[list[str], list[str]]:
    """Awkward inputs: returns (names that must be written, names that must fail), relative to root."""
    root.mkdir(parents=True)
    rgb = smooth(48, 64)
    (root / "empty.jpg").write_bytes(b"")
    buffer = root / "full.jpg"
    Image.fromarray(noise(200, 200, 3)).save(buffer, quality=95)
    (root / "truncated.jpg").write_bytes(buffer.read_bytes()[: buffer.stat().st_size // 2])
    buffer.unlink()
    (root / "text.jpg").write_text("this is not a picture\n")
    Image.fromarray((np.arange(40 * 50, dtype=np.uint16).reshape(40, 50)  * 31)).save(root / "deep16.png")
    Image.fromarray(rgb).convert("CMYK").save(root / "cmyk.jpg", quality=95)
    Image.fromarray(np.dstack([rgb, noise(48, 64)])).save(root / "rgba.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "palette.png")
    Image.fromarray(np.dstack([noise(30, 20), noise(30, 20, seed=2)])).save(root / "la.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(smooth(40, 60)).save(root / "rotated.jpg", exif=exif, quality=95)
    Image.fromarray(noise(300, 300)).save(root / "oversized.png")  # over --max-pixels 50000
    Image.fromarray(np.array([[77]], np.uint8)).save(root / "one.png")
    Image.fromarray(smooth(20, 2000)).save(root / "wide.png")
    (root / "folder.png").mkdir()
    Image.fromarray(smooth(33, 35)).save(root / "folder.png" / "inner.png")
    Image.fromarray(smooth(30, 30, seed=3)).save(root / "фото 日本.png")
    frames = [Image.fromarray(smooth(24, 24, seed=s)).convert("P") for s in range(3)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    Image.fromarray(np.linspace(0, 1, 26 * 31, dtype=np.float32).reshape(26, 31), "F").save(root / "float.tif")
    good = ["deep16.png", "cmyk.jpg", "rgba.png", "palette.png", "la.png", "rotated.jpg", "one.png", "wide.png",
            "folder.png/inner.png", "фото 日本.png", "anim.gif", "float.tif"]
    bad = ["empty.jpg", "truncated.jpg", "text.jpg", "oversized.png"]
    return good, bad


def test_awkward_inputs_are_written_or_reported(tmp_path, tiny_onnx):
    good, bad = make_corpus(tmp_path / "in")
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    assert run("--engine", tiny_onnx["rgb"], tmp_path / "in", "-o", out, "--max-pixels", 50000,
               "--summary", summary, "--format", "png") == 1
    report = json.loads(summary.read_text())
    by_input = {Path(f["input"]).relative_to(tmp_path / "in").as_posix(): f for f in report["files"]}
    assert sorted(by_input) == sorted(good + bad)
    for name in bad:
        assert by_input[name]["status"] == "failed" and by_input[name]["reason"], name
        assert not Path(by_input[name]["output"]).exists()
    assert "max-pixels" in by_input["oversized.png"]["reason"]
    assert "empty" in by_input["empty.jpg"]["reason"]
    for name in good:
        entry = by_input[name]
        assert entry["status"] == "written", (name, entry.get("reason"))
        src, dst = tmp_path / "in" / name, Path(entry["output"])
        assert dst == out / Path(name).with_suffix(".png")
        expected = gray_of(src)
        with Image.open(dst) as im:
            assert im.mode == "RGB"
            assert im.size == (expected.shape[1], expected.shape[0]), name
        assert np.abs(luma(dst).astype(int) - expected).max() <= 2, name
    assert report["counts"] == {"written": len(good), "skipped": 0, "failed": len(bad), "pending": 0}
    assert report["throughput"]["images_per_s"] > 0 and report["timings"]["wall_s"] > 0


def test_exif_rotation_sizes_and_special_gray_levels(tmp_path, tiny_onnx):
    make_corpus(tmp_path / "in")
    out = tmp_path / "out"
    run("--engine", tiny_onnx["lab"], tmp_path / "in", "-o", out, "--format", "png")
    with Image.open(out / "rotated.png") as im:
        assert im.size == (40, 60)  # stored 60 x 40, displayed rotated
    with Image.open(tmp_path / "in" / "deep16.png") as im:
        sixteen = np.asarray(im).astype(np.float64)
    assert np.abs(luma(out / "deep16.png") - np.rint(sixteen * 255 / 65535)).max() <= 2  # scaled, not clipped
    first = np.asarray(Image.open(tmp_path / "in" / "anim.gif").convert("RGB").convert("L"))
    assert np.abs(luma(out / "anim.png").astype(int) - first).max() <= 2
    assert luma(out / "one.png").shape == (1, 1) and abs(int(luma(out / "one.png")[0, 0]) - 77) <= 1


def test_size_model_jpg_and_all_good_exit_zero(tmp_path, tiny_onnx):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        Image.fromarray(smooth(40 + i, 70, seed=i)).save(src / f"p{i}.png")
    out = tmp_path / "out"
    assert run("--engine", tiny_onnx["rgb"], src, "-o", out, "--size", "model", "--format", "jpg",
               "--quality", 80, "--batch-size", 2) == 0
    for i in range(5):
        with Image.open(out / f"p{i}.jpg") as im:
            assert im.format == "JPEG" and im.size == (SIZE, SIZE)


def test_restore_then_colorize_chain(tmp_path, tiny_onnx, restore_onnx):
    src = tmp_path / "in"
    src.mkdir()
    gray = np.asarray(Image.fromarray(smooth(64, 96)).convert("L"))
    Image.fromarray(gray).save(src / "photo.png")
    out = tmp_path / "out"
    # --tile off: the whole picture at S x S, so the fake's left-half mask is the picture's left half.
    assert run("--fill", "model", "--engine", restore_onnx, "--engine", tiny_onnx["rgb"], src, "-o", out, "--save-restored",
               "--tile", "off") == 0
    result = luma(out / "photo.png").astype(int)
    restored = luma(out / "photo.restored.png").astype(int)
    assert result.shape == gray.shape
    # The fake restorer damages the left half (mask) and inverts it: right half keeps the input exactly.
    assert np.abs(result[:, 56:] - gray[:, 56:]).max() <= 1
    assert np.array_equal(restored[:, 56:], gray[:, 56:])
    assert np.abs(restored[:, :40] - (255 - gray[:, :40])).mean() < 4
    assert np.abs(result[:, :40] - restored[:, :40]).max() <= 1


def test_restore_model_alone_writes_gray(tmp_path, restore_onnx):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(noise(20, 30)).save(src / "a.png")
    assert run("--engine", restore_onnx, src, "-o", tmp_path / "out") == 0
    with Image.open(tmp_path / "out" / "a.png") as im:
        assert im.mode == "L" and im.size == (30, 20)


def test_dry_run_writes_nothing(tmp_path, tiny_onnx, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(noise(20, 30)).save(src / "a.png")
    assert run("--engine", tiny_onnx["rgb"], src, "-o", tmp_path / "out", "--dry-run") == 0
    assert not (tmp_path / "out").exists()
    assert "a.png" in capsys.readouterr().out


def test_never_writes_over_an_input_and_skips_done_work(tmp_path, tiny_onnx):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(noise(20, 30)).save(src / "a.png")
    Image.fromarray(noise(20, 30, seed=1)).save(src / "b.jpg")
    before = (src / "a.png").read_bytes()
    summary = tmp_path / "s.json"
    assert run("--engine", tiny_onnx["rgb"], src, "-o", src, "--summary", summary) == 2  # -o = an input folder
    assert run("--engine", tiny_onnx["rgb"], src / "a.png", src / "b.jpg", "-o", src, "--summary", summary,
               "--format", "png") == 1
    assert (src / "a.png").read_bytes() == before
    files = {Path(f["input"]).name: f for f in json.loads(summary.read_text())["files"]}
    assert files["a.png"]["status"] == "failed" and "overwrite an input" in files["a.png"]["reason"]
    assert files["b.jpg"]["status"] == "written"
    # Outputs inside an input folder are never taken for inputs on the next run.
    (src / "b.png").unlink()
    out = src / "colour"
    assert run("--engine", tiny_onnx["rgb"], src, "-o", out, "--summary", summary, "--format", "png") == 0
    assert run("--engine", tiny_onnx["rgb"], src, "-o", out, "--summary", summary, "--format", "png") == 0
    counts = json.loads(summary.read_text())["counts"]
    assert counts == {"written": 0, "skipped": 2, "failed": 0, "pending": 0}


def test_inputs_that_would_share_an_output_both_get_one(tmp_path, tiny_onnx):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(noise(20, 30)).save(src / "x.png")
    Image.fromarray(noise(20, 30, seed=1)).save(src / "x.jpg")
    Image.fromarray(noise(20, 30, seed=2)).save(src / "x.jpg.png")  # already the name the rule would give x.jpg
    summary, out = tmp_path / "s.json", tmp_path / "out"
    assert run("--engine", tiny_onnx["rgb"], src, "-o", out, "--summary", summary, "--format", "png") == 1
    files = {Path(f["input"]).name: f for f in json.loads(summary.read_text())["files"]}
    assert files["x.png"]["status"] == "written" and files["x.png"]["output"] == str(out / "x.png.png")
    assert files["x.jpg.png"]["status"] == "written" and files["x.jpg.png"]["output"] == str(out / "x.jpg.png")
    assert files["x.jpg"]["status"] == "failed" and "also the output of" in files["x.jpg"]["reason"]


@pytest.mark.parametrize("problem", ["missing", "no_card", "engine_without_card", "unknown_suffix", "no_inputs",
                                     "bad_flag", "three_models", "two_colorizers"])
def test_usage_and_model_errors_exit_two(problem, tmp_path, tiny_onnx, capsys):
    import onnx

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(noise(8, 8)).save(src / "a.png")
    model = tiny_onnx["rgb"]
    extra: list = []
    if problem == "missing":
        model = tmp_path / "nope.onnx"
    elif problem == "no_card":
        proto = onnx.load(str(tiny_onnx["rgb"]))
        del proto.metadata_props[:]
        model = tmp_path / "bare.onnx"
        onnx.save(proto, str(model))
    elif problem == "engine_without_card":
        model = tmp_path / "m.engine"
        model.write_bytes(b"\0" * 16)
    elif problem == "unknown_suffix":
        model = tmp_path / "m.pt"
        model.write_bytes(b"\0")
    elif problem == "no_inputs":
        (src / "a.png").unlink()
    elif problem == "bad_flag":
        extra = ["--size", "huge"]
    elif problem == "three_models":
        extra = ["--engine", model, "--engine", model]
    elif problem == "two_colorizers":
        extra = ["--engine", model]
    assert run("--engine", model, *extra, src, "-o", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    assert not list((tmp_path / "out").glob("**/*.png")) if (tmp_path / "out").exists() else True


def test_ext_filter_and_recursion(tmp_path, tiny_onnx, capsys):
    src = tmp_path / "in"
    (src / "deep" / "er").mkdir(parents=True)
    Image.fromarray(noise(20, 30)).save(src / "a.png")
    Image.fromarray(noise(20, 30)).save(src / "deep" / "er" / "b.JPG")
    (src / "notes.txt").write_text("not an input")
    assert run("--engine", tiny_onnx["rgb"], src, "-o", tmp_path / "out", "--ext", "jpg, .jpeg") == 0
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("[!.]*.*")) == \
        ["deep/er/b.JPG"]  # --format auto: the JPEG's own container, and its own spelling


def test_an_existing_folder_inside_an_input_folder_is_not_taken_for_outputs(tmp_path, tiny_onnx):
    """Finding 1 of issue 15: photos/scans/a.png (the user's) was skipped as done, or replaced with --overwrite."""
    photos, scans = tmp_path / "photos", tmp_path / "photos" / "scans"
    scans.mkdir(parents=True)
    Image.fromarray(noise(20, 30)).save(photos / "a.png")
    Image.fromarray(noise(20, 30, seed=1)).save(scans / "a.png")
    before = (scans / "a.png").read_bytes()
    for extra in ((), ("--overwrite",)):
        assert run("--engine", tiny_onnx["rgb"], photos, "-o", scans, *extra) == 2
        assert (scans / "a.png").read_bytes() == before
    # A new folder is marked as runtime-infer's, so a rerun skips its own outputs and --overwrite redoes them.
    out = photos / "colour"
    assert run("--engine", tiny_onnx["rgb"], photos, "-o", out) == 0
    assert (out / ".revive-output").is_file() and (out / "a.png").is_file() and (out / "scans" / "a.png").is_file()
    assert run("--engine", tiny_onnx["rgb"], photos, "-o", out, "--overwrite") == 0


@pytest.mark.parametrize("target", ["input", "model", "output", "folder", "photo_elsewhere"])
def test_summary_never_replaces_a_file_of_the_run(target, tmp_path, tiny_onnx, capsys):
    """Finding 2 of issue 15: --summary overwrote an input photo, the model itself, an output of the run."""
    import shutil

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.fromarray(noise(20, 30)).save(src / "a.png")
    model = shutil.copy(tiny_onnx["rgb"], tmp_path / "m.onnx")
    (tmp_path / "folder").mkdir()
    Image.fromarray(noise(20, 30)).save(tmp_path / "keep.png")
    summary = {"input": src / "a.png", "model": Path(model), "output": out / "a.png", "folder": tmp_path / "folder",
               "photo_elsewhere": tmp_path / "keep.png"}[target]
    before = summary.read_bytes() if summary.is_file() else None
    assert run("--engine", model, src, "-o", out, "--summary", summary) == 2
    assert "--summary" in capsys.readouterr().err
    assert not out.exists()  # refused before any work
    if before is not None:
        assert summary.read_bytes() == before


def test_a_summary_that_fails_at_the_end_keeps_the_result(tmp_path, tiny_onnx, capsys, caplog, monkeypatch):
    """Finding 8 of issue 15: a summary that could not be written crashed after all the work."""
    import revive.runtime.infer as files

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.fromarray(noise(20, 30)).save(src / "a.png")
    real = files.write_atomic

    def full_disk(path, data):
        if path.name == "s.json":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(files, "write_atomic", full_disk)
    assert run("--engine", tiny_onnx["rgb"], src, "-o", out, "--summary", tmp_path / "s.json") == 1
    err = capsys.readouterr().err
    assert "No space left on device" in caplog.text and "1 written" in err and "Traceback" not in err
    assert (out / "a.png").is_file()


def test_fifos_devices_and_symlink_loops_are_reported_and_skipped(tmp_path, tiny_onnx):
    """Findings 5, 6 and 13 of issue 15: a FIFO hung the run for ever, a symlink loop ended it in a
    traceback, a link to /dev/zero was called an empty file, a 0-byte output counted as done."""
    import os
    import subprocess
    import sys

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(3):
        Image.fromarray(noise(20, 30, seed=i)).save(src / f"good{i}.png")
    os.mkfifo(src / "y.png")
    (src / "loop1.png").symlink_to(src / "loop2.png")
    (src / "loop2.png").symlink_to(src / "loop1.png")
    (src / "zero.png").symlink_to("/dev/zero")
    (src / "dangling.png").symlink_to(src / "gone.png")
    out.mkdir()
    (out / ".revive-output").write_text("")
    (out / "good0.png").write_bytes(b"")  # a 0-byte file left behind is not a finished output
    summary = tmp_path / "s.json"
    cmd = [sys.executable, "-m", "revive.runtime.cli", "--engine", str(tiny_onnx["rgb"]), str(src),
           str(src / "y.png"), "-o", str(out), "--summary", str(summary), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    files = {Path(f["input"]).name: f for f in json.loads(summary.read_text())["files"]}
    for i in range(3):
        assert files[f"good{i}.png"]["status"] == "written" and (out / f"good{i}.png").stat().st_size > 0
    assert "FIFO" in files["y.png"]["reason"]
    assert files["loop1.png"]["reason"] == "symlink loop" == files["loop2.png"]["reason"]
    assert "character device" in files["zero.png"]["reason"]
    assert files["dangling.png"]["reason"] == "broken symlink"


def test_the_decoder_never_blocks_on_a_fifo(tmp_path):
    import os

    from revive.runtime.images import DecodeError, decode_gray

    os.mkfifo(tmp_path / "p.png")
    with pytest.raises(DecodeError, match="not a regular file"):
        decode_gray(tmp_path / "p.png", SIZE)
