"""The wheel route to a GPU machine that reaches no registry: what to carry, and in how many transfers.

The device tool carries at most 64 MiB per call, the working tree included, and the GPU machine
(Python 3.12, torch 2.11 + CUDA 13) lacks onnxruntime-gpu, segmentation-models-pytorch and TensorRT-RTX.
This measures three ways to carry them, by the bytes and the calls (transfers) each needs:

1. the wheels as downloaded, split into 48 MiB loads (what ``shared/tools/device-wheels`` does);
2. every file of the unpacked wheels in one xz archive per group (``xz -9``), split to fill each call;
3. the same without what is never loaded (``DROP``: ONNX Runtime's TensorRT provider, which needs
   TensorRT 10's libnvinfer, and its C API library, which the Python module does not load: it links its own
   copy, as the ELF dependencies and the mapped files of an ``import onnxruntime`` show): the plan's route;
4. as 3, with the CUDA provider's cubins for other GPUs than sm_90 zeroed (``fatbin.py``): measured, untried.

``--pack`` writes route 3 (``--thin``: 4) as ``.whl/load1..N/`` (one per call, parts in order, core before rtx) with
``MANIFEST.json`` and ``install.py`` in load1; on the GPU machine ``python3 /tmp/wh/install.py`` checks every
part's sha256 and unpacks each complete archive into /tmp/site (benchmarks/GPU_PLAN.md). ``--check PYTHON``
then unpacks the archives into a scratch folder and runs ``wheel_check`` under that Python 3.12 on this
(CPU) machine. Figures: ``benchmarks/results/<machine>/gpu_wheels.{json,md}``.

    python -m revive.benchmarks.gpu_wheels --pack --check "$(pyenv prefix 3.12.1)/bin/python3"
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["DROP", "GROUPS", "device_wheels_loads", "fill_loads", "main", "measure", "pack"]

log = logging.getLogger("revive.benchmarks.gpu_wheels")

MiB = 2**20
CALL_LIMIT = 64 * MiB  # the device tool's working tree per call, carried paths included
DEVICE_WHEELS_LOAD = 48 * MiB  # shared/tools/device-wheels' load size
MARGIN = 1 * MiB  # headroom for files the tree gains between packing and the calls
GROUPS = {"core": ("onnxruntime-gpu==1.31.1", "segmentation-models-pytorch==0.6.0"),
          "rtx": ("tensorrt-rtx-cu13-libs==1.7.1.116", "tensorrt-rtx-cu13-bindings==1.7.1.116")}
DROP = {"onnxruntime/capi/libonnxruntime_providers_tensorrt.so":
        "ONNX Runtime's TensorRT provider: needs TensorRT 10 (libnvinfer.so.10), not carried",
        "onnxruntime/capi/libonnxruntime.so.*":
        "ONNX Runtime's C API library: onnxruntime_pybind11_state links its own copy and never loads it"}
PIP_PLATFORM = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                *[a for p in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                              "manylinux2014_x86_64", "any") for a in ("--platform", p)]]


def download(specs: tuple[str, ...], folder: Path) -> list[Path]:
    """The wheels for ``specs`` (cp312, manylinux x86-64, no dependencies), downloaded once into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    found = []
    for spec in specs:
        name, version = spec.split("==")
        pattern = f"{name.replace('-', '_')}-{version}-*.whl"
        if not list(folder.glob(pattern)):
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *PIP_PLATFORM, "-d",
                            str(folder), spec], check=True)
        found += sorted(folder.glob(pattern))[:1]
    return found


def tree_bytes(root: Path) -> int:
    """Bytes of what the device tool sends besides carried paths: tracked and untracked-not-ignored files."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, check=True).stdout.split(b"\0")
    return sum((root / name.decode()).stat().st_size for name in listed if name and (root / name.decode()).is_file())


def device_wheels_loads(sizes: list[int], load: int = DEVICE_WHEELS_LOAD) -> int:
    """Loads device-wheels makes: each wheel over ``load`` cut into ``load``-sized pieces, then pieces in order
    into loads that never pass ``load``."""
    pieces = [min(load, s - i) for s in sizes for i in range(0, s, load)]
    return fill_loads(pieces, load)


def fill_loads(pieces: list[int], load: int) -> int:
    count, used = 0, load
    for size in pieces:
        if used + size > load:
            count, used = count + 1, 0
        used += size
    return count


def _dropped(relpath: str) -> str | None:
    return next((why for pattern, why in DROP.items() if fnmatch.fnmatch(relpath, pattern)), None)


def unpack(wheels: list[Path], dest: Path) -> list[dict[str, Any]]:
    """Every file of the wheels under ``dest`` (a wheel is a zip: what pip --target writes, less RECORD edits)."""
    files = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(dest)
            files += [{"path": i.filename, "bytes": i.file_size, "wheel": wheel.name, "drop": _dropped(i.filename)}
                      for i in zf.infolist() if not i.is_dir()]
    return files


XZ = ["xz", "-9", "-T2", "-c"]  # -9: a 64 MiB dictionary (-9e took too long on the shared 2-core machine)


def xz_archive(root: Path, names: list[str], out: Path) -> dict[str, Any]:
    """``names`` (relative to ``root``) as one tar.xz (``XZ``): bytes, seconds to pack and to unpack here.

    Packing ~300 MB takes tens of minutes on a loaded 2-core machine: an archive whose ``.key`` (the files, their
    sizes, the xz settings) matches is reused, with the seconds measured when it was made.
    """
    key = json.dumps({"xz": XZ, "files": sorted((n, (root / n).stat().st_size) for n in names)})
    key_file = out.with_suffix(".key")
    if out.is_file() and key_file.is_file() and json.loads(key_file.read_text())["key"] == key:
        return json.loads(key_file.read_text())["measured"]
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with out.open("wb") as sink:
        tar = subprocess.Popen(["tar", "-cf", "-", "-C", str(root), "--null", "-T", "-"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
        xz = subprocess.Popen(XZ, stdin=tar.stdout, stdout=sink)
        tar.stdout.close()
        tar.communicate(b"\0".join(n.encode() for n in names))
        if xz.wait() or tar.returncode:
            raise RuntimeError(f"tar | xz failed for {out.name}")
    packed = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(["xz", "-dc", str(out)], stdout=subprocess.DEVNULL, check=True)
    measured = {"bytes": out.stat().st_size, "xz_seconds": round(packed, 1),
                "unxz_seconds": round(time.perf_counter() - start, 1)}
    key_file.write_text(json.dumps({"key": key, "measured": measured}))
    return measured


CUDA_PROVIDER = "onnxruntime/capi/libonnxruntime_providers_cuda.so"


def _thin_copy(root: Path, dest: Path, names: list[str]) -> dict[str, int]:
    """``root``'s files hard-linked under ``dest``, the CUDA provider replaced by its sm_90-only twin (fatbin.py);
    returns its cubin bytes per architecture."""
    from .fatbin import arch_bytes, thinned

    for name in names:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        if not (dest / name).exists():
            os.link(root / name, dest / name)
    library = (root / CUDA_PROVIDER).read_bytes()
    (dest / CUDA_PROVIDER).unlink()
    (dest / CUDA_PROVIDER).write_bytes(thinned(library))
    return arch_bytes(library)


def measure(wheel_dir: Path, scratch: Path, capacity: int, cache: Path) -> dict[str, Any]:
    """Per group: the wheels, the unpacked files, their archives (all / without DROP / thinned); each route's
    bytes and calls."""
    groups: dict[str, Any] = {}
    for group, specs in GROUPS.items():
        wheels = download(specs, wheel_dir)
        root = scratch / group
        files = unpack(wheels, root)
        kept = [f["path"] for f in files if not f["drop"]]
        dropped = [f["path"] for f in files if f["drop"]]
        packed = xz_archive(root, kept, cache / f"{group}.tar.xz")
        dropped_xz = xz_archive(root, dropped, cache / f"{group}-dropped.tar.xz")["bytes"] if dropped else 0
        entry = {
            "specs": list(specs), "wheels": {w.name: w.stat().st_size for w in wheels},
            "wheel_bytes": sum(w.stat().st_size for w in wheels), "unpacked_bytes": sum(f["bytes"] for f in files),
            "kept_bytes": sum(f["bytes"] for f in files if not f["drop"]),
            "dropped": [{k: f[k] for k in ("path", "bytes", "drop")} for f in files if f["drop"]],
            "xz_all_bytes": packed["bytes"] + dropped_xz, "xz_kept_bytes": packed["bytes"],
            "xz_thin_bytes": packed["bytes"], "xz_seconds": packed["xz_seconds"],
            "unxz_seconds": packed["unxz_seconds"]}
        if CUDA_PROVIDER in kept:
            entry["cuda_provider_cubins"] = _thin_copy(root, scratch / f"{group}-thin", kept)
            entry["xz_thin_bytes"] = xz_archive(scratch / f"{group}-thin", kept,
                                                cache / f"{group}-thin.tar.xz")["bytes"]
        groups[group] = entry
    routes = []
    for label, key, load in (("wheels as downloaded, 48 MiB loads (device-wheels)", "wheel_bytes", DEVICE_WHEELS_LOAD),
                             ("wheels as downloaded, loads filling each call", "wheel_bytes", capacity),
                             ("unpacked, xz -9, every file", "xz_all_bytes", capacity),
                             ("unpacked, xz -9, without what is never loaded (the plan's route)", "xz_kept_bytes",
                              capacity),
                             ("as above, the CUDA provider's cubins for GPUs other than sm_90 zeroed (untried)",
                              "xz_thin_bytes", capacity)):
        row = {"route": label, "load_bytes": load}
        for scope, names in (("core", ["core"]), ("core+rtx", ["core", "rtx"])):
            sizes = [s for g in names for s in (groups[g]["wheels"].values() if key == "wheel_bytes"
                                                 else [groups[g][key]])]
            calls = device_wheels_loads(sizes, load) if "device-wheels" in label else math.ceil(sum(sizes) / load)
            row[scope] = {"bytes": sum(sizes), "calls": calls}
        routes.append(row)
    return {"call_limit_bytes": CALL_LIMIT, "capacity_bytes": capacity, "groups": groups, "routes": routes}


def pack(cache: Path, capacity: int, folder: Path, thin: bool = False, probe: Path | None = None) -> list[Path]:
    """A route as folder/load1..N (``thin``: with the sm_90-only CUDA provider): each archive cut into parts,
    parts in order (core first) filling each load; ``probe`` (a small FP16 ONNX model) goes first into load1,
    for ``gpu_suite.sh --probe`` right after the first call."""
    for old in folder.glob("load*"):
        shutil.rmtree(old)
    load, used, manifest = 1, 0, {}
    if probe is not None:
        _write(folder / "load1" / "probe.fp16.onnx", probe.read_bytes())
        used = probe.stat().st_size
    for group in GROUPS:
        source = cache / f"{group}-thin.tar.xz" if thin and (cache / f"{group}-thin.tar.xz").is_file() \
            else cache / f"{group}.tar.xz"
        data = source.read_bytes()
        parts, offset = [], 0
        while offset < len(data):
            if used >= capacity:  # a part never crosses a load: what does not fit starts the next one
                load, used = load + 1, 0
            chunk = data[offset:offset + capacity - used]
            name = f"{group}.tar.xz.part{len(parts):02d}"
            parts.append({"name": name, "bytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest(),
                          "load": load})
            _write(folder / f"load{load}" / name, chunk)
            offset, used = offset + len(chunk), used + len(chunk)
        manifest[f"{group}.tar.xz"] = parts
    _write(folder / "load1" / "MANIFEST.json", json.dumps(manifest, indent=1).encode())
    shutil.copy(Path(__file__).with_name("wheel_install.py"), folder / "load1" / "install.py")
    return sorted(folder.glob("load*"), key=lambda p: int(p.name[4:]))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def check(python: str, scratch: Path, loads: Path) -> dict[str, Any]:
    """Install the packed loads as the GPU machine does (install.py) and run wheel_check under ``python`` (3.12)."""
    from revive.runtime.errors import UserError

    site, parts = scratch / "site", scratch / "wh"
    onnx = parts / "probe.fp16.onnx"
    parts.mkdir()
    for load in loads.glob("load*"):
        for f in load.iterdir():
            shutil.copy(f, parts / f.name)
    installed = subprocess.run([python, str(parts / "install.py"), str(parts), str(site)], capture_output=True,
                               text=True)
    if installed.returncode:
        raise UserError(f"install.py under {python} failed: {installed.stdout.strip()} {installed.stderr[-300:]}")
    repo = Path(__file__).resolve().parent.parent
    shim = scratch / "shim" / "revive"
    shim.mkdir(parents=True, exist_ok=True)
    for part in ("runtime", "train", "export", "benchmarks"):
        (shim / part).symlink_to(repo / part)
    env = {"PYTHONPATH": f"{site}:{shim.parent}", "PATH": "/usr/bin:/bin", "HOME": str(scratch)}
    run = subprocess.run([python, "-m", "revive.benchmarks.wheel_check", str(onnx)], env=env, capture_output=True,
                         text=True, timeout=600)
    if run.returncode:
        raise UserError(f"wheel_check under {python} failed (exit {run.returncode}): {run.stderr.strip()[-500:]}")
    return {"install.py": installed.stdout.strip(), **json.loads(run.stdout)}


def _tiny_fp16_onnx(path: Path) -> None:
    """A small pix2pix (32 px, ngf 8) exported to FP32 and converted to FP16, as the real models are."""
    from revive.export.to_fp16 import write_fp16
    from revive.export.to_onnx import export_checkpoint
    from revive.train.families import get_family

    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = get_family("pix2pix").random_checkpoint(path.parent, 32, small=True)
    export_checkpoint(ckpt, path.with_name("tiny.onnx"), max_batch=8)
    write_fp16(path.with_name("tiny.onnx"), path)


def markdown(data: dict[str, Any]) -> str:
    from .report import machine_line, markdown_table

    mib = lambda n: f"{n / MiB:.1f}"  # noqa: E731
    rows = [[r["route"], mib(r["load_bytes"]), mib(r["core"]["bytes"]), r["core"]["calls"],
             mib(r["core+rtx"]["bytes"]), r["core+rtx"]["calls"]] for r in data["routes"]]
    groups = [[g, ", ".join(v["specs"]), mib(v["wheel_bytes"]), mib(v["unpacked_bytes"]), mib(v["xz_kept_bytes"]),
               v["xz_seconds"], v["unxz_seconds"]] for g, v in data["groups"].items()]
    dropped = [f"- `{d['path']}` ({mib(d['bytes'])} MiB): {d['drop']}" for v in data["groups"].values()
               for d in v["dropped"]]
    text = ["# The wheel route to the GPU machine", "", machine_line(data["machine"]), "",
            f"Per call: {mib(data['call_limit_bytes'])} MiB in all, {mib(data['capacity_bytes'])} MiB left for "
            f"wheels beside this working tree. Command: `{data['command']}`", "",
            markdown_table(["route", "load MiB", "core MiB", "core calls", "core+rtx MiB", "core+rtx calls"], rows),
            markdown_table(["group", "packages", "wheels MiB", "unpacked MiB", "xz kept MiB", "xz s", "unxz s"],
                           groups), "Left out:", "", *dropped, ""]
    for group in data["groups"].values():
        if group.get("cuda_provider_cubins"):
            text += ["CUDA provider cubins by architecture (MiB): " + ", ".join(
                f"{k} {mib(v)}" for k, v in group["cuda_provider_cubins"].items()), ""]
    if data.get("loads"):
        text += [f"Packed ({data['loads_route']} route): " + ", ".join(f"{k} {mib(v)} MiB"
                                                                      for k, v in data["loads"].items()), ""]
    if data.get("check"):
        text += ["Check on this CPU machine (`wheel_check`, the unpacked archives under Python 3.12):", "",
                 *[f"- {k}: {v}" for k, v in data["check"].items()], ""]
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    from revive.runtime.errors import UserError, report

    from .report import write_results

    p = argparse.ArgumentParser(prog="gpu_wheels", description=__doc__.splitlines()[0])
    p.add_argument("--wheels", type=Path, default=Path(".whl/dl"), help="wheel cache (default .whl/dl)")
    p.add_argument("--pack", action="store_true", help="write the loads: .whl/load1..N (--thin: .whl/thin/load1..N)")
    p.add_argument("--thin", action="store_true", help="with --pack: the CUDA provider with sm_90 cubins only")
    p.add_argument("--check", metavar="PYTHON", help="with --pack: install the loads as the GPU machine does, "
                                                     "under this Python 3.12, and try the packages on the CPU")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<machine>/)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    repo = Path(__file__).resolve().parent.parent
    capacity = CALL_LIMIT - tree_bytes(repo) - MARGIN
    try:
        with tempfile.TemporaryDirectory(prefix="revive-wheels.") as tmp:
            scratch = Path(tmp)
            cache = args.wheels.parent / "xz"
            data = measure(args.wheels, scratch, capacity, cache)
            if args.pack:
                folder = repo / ".whl" / ("thin" if args.thin else "")
                _tiny_fp16_onnx(scratch / "probe" / "probe.fp16.onnx")
                loads = pack(cache, capacity, folder, thin=args.thin, probe=scratch / "probe" / "probe.fp16.onnx")
                data["loads"] = {p.name: sum(f.stat().st_size for f in p.iterdir()) for p in loads}
                data["loads_route"] = "sm_90 cubins only" if args.thin else "the untouched libraries"
                log.info("packed %d loads: %s", len(loads), data["loads"])
                if args.check:
                    data["check"] = check(args.check, scratch, folder)
    except UserError as exc:
        return report("gpu_wheels", exc)
    write_results("gpu_wheels", "python -m revive.benchmarks.gpu_wheels " + " ".join(argv or sys.argv[1:]), data,
                  markdown, out=args.out, tag="thin" if args.thin else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
