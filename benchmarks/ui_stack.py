"""``python -m revive.benchmarks.ui_stack``: Gradio or a lighter stack for revive-ui, measured on this machine.

Each stack gets a fresh virtual environment on top of revive's own base install (``pip install REPO`` and
the stack; a third venv with revive alone is the baseline), then:

- install: MB its packages add to site-packages over revive alone, how many packages, and which of revive's
  own dependencies pip replaced with another version to fit the stack (a pin revive's users would inherit);
- import: the stack's cold import, in-process seconds, median of ``--repeats`` runs alternating the stacks;
- start: process start to the first ``200`` for ``GET /`` (revive-ui with its two stand-in models loaded;
  Gradio an app with just an ImageSlider and a File upload, no model), median of the runs;
- outbound: every network attempt to anything but loopback (audit hooks ``socket.connect``,
  ``socket.sendto``, ``socket.getaddrinfo``) while the process starts, serves the page (revive-ui: and one
  ``POST /api/infer``) and stops. Gradio twice: as installed, and with ``GRADIO_ANALYTICS_ENABLED=False``;
- page: with Chromium and Playwright present, one page load: its requests, bytes, requests to other origins.

Writes ``benchmarks/results/<machine>/ui_stack.{json,md}``. Needs PyPI (or a warm pip cache) and about
five minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from .report import markdown_table, write_results
from .serve_bench import free_ports

__all__ = ["STACKS", "main", "measure"]

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "ui_probe.py"
# name -> (what pip installs beside revive, the import that loads the web stack)
STACKS = {
    "revive-ui (Starlette, uvicorn, python-multipart)": ("[ui]", "import starlette.applications, uvicorn, multipart"),
    "Gradio": (" gradio", "import gradio"),
}
LOOPBACK = ("127.", "localhost", "::1", "[::1]")
START_TIMEOUT_S = 120.0


def _venv(folder: Path, spec: str) -> Path:
    python = folder / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        log.info("pip install %s into %s", spec, folder)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *spec.split()], check=True)
    return python


def _packages(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], check=True, capture_output=True,
                         text=True).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def _site_mb(python: Path) -> float:
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    total = 0
    for folder, _, files in os.walk(site):
        total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
    return total / 1e6


def _import_s(python: Path, statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return float(subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout)


def _outside(events: list[list[str]]) -> list[list[str]]:
    return [e for e in events if not e[1].startswith(LOOPBACK) and not e[1].startswith("/")]  # "/": a Unix socket


def _serve_once(python: Path, stack: str, models: list[Path], photo: Path, work: Path, env: dict[str, str],
                page_probe) -> dict[str, Any]:
    """Start the probe, time it to the first page, use it, stop it; its network attempts and the page load."""
    [port] = free_ports(1)
    events, stop = work / f"events-{port}.json", work / f"stop-{port}"
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    child = subprocess.Popen([str(python), str(PROBE), stack, str(port), str(events), str(stop), *map(str, models)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first_page = None
        while time.perf_counter() - start < START_TIMEOUT_S and child.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        first_page = time.perf_counter() - start
                        break
            except OSError:
                time.sleep(0.02)
        if first_page is None:
            raise RuntimeError(f"{stack} did not serve {url}: {child.stderr.read() if child.poll() is not None else ''}")
        if stack == "revive-ui":
            _post_photo(url + "api/infer", photo)
        page = page_probe(url) if page_probe else None
        stop.touch()
        child.wait(timeout=START_TIMEOUT_S)
        record = json.loads(events.read_text())
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return {"first_page_s": round(first_page, 3), "import_s": record["import_s"], "start_s": record["start_s"],
            "outbound": _outside(record["events"]), "page": page}


def _post_photo(url: str, photo: Path) -> None:
    boundary = "revive-ui-stack-bench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{photo.name}\"\r\n\r\n"
            ).encode() + photo.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=START_TIMEOUT_S) as response:
        assert response.status == 200 and response.read(8).startswith(b"\x89PNG"), "POST /api/infer failed"


def _page_probe():
    """A function url -> page-load figures, or None when Chromium or Playwright is missing."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]

    def probe(url: str) -> dict[str, Any]:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            context = p.chromium.launch_persistent_context(profile, executable_path=chromium, args=flags,
                                                           headless=True)
            page = context.new_page()
            responses = []
            page.on("response", lambda r: responses.append(r))
            start = time.perf_counter()
            page.goto(url, wait_until="networkidle")
            load_s = time.perf_counter() - start
            sizes = []
            for r in responses:
                try:
                    sizes.append(len(r.body()))
                except Exception:  # noqa: BLE001 - a redirect or a stream has no body to count
                    sizes.append(0)
            context.close()
        origin = url.rstrip("/")
        return {"requests": len(responses), "kb": round(sum(sizes) / 1e3, 1), "load_s": round(load_s, 2),
                "elsewhere": [r.url for r in responses if not r.url.startswith((origin, "data:", "blob:"))]}

    return probe


def measure(work: Path, repeats: int) -> dict[str, Any]:
    from PIL import Image

    from .stand_in_models import make_scratch_restore, make_sepia_colorize

    models = [make_scratch_restore(work / "restore.onnx"), make_sepia_colorize(work / "colorize.onnx")]
    photo = work / "photo.png"
    Image.linear_gradient("L").resize((640, 480)).save(photo)
    base = _venv(work / "venv-base", str(REPO))
    base_packages, base_mb = _packages(base), _site_mb(base)
    pythons = {name: _venv(work / f"venv-{i}", f"{REPO}{extra}") for i, (name, (extra, _)) in enumerate(STACKS.items())}
    results: dict[str, dict[str, Any]] = {}
    for name, python in pythons.items():
        packages = _packages(python)
        results[name] = {
            "added_mb": round(_site_mb(python) - base_mb, 1),
            "packages_added": sorted(set(packages) - set(base_packages)),
            "replaced": {p: f"{base_packages[p]} -> {v}" for p, v in packages.items()
                         if p in base_packages and base_packages[p] != v and p != "revive"},
            "import_s": [], "first_page_s": [],
        }
    for _ in range(repeats):  # alternating, so the machine's load falls on both alike
        for name, python in pythons.items():
            results[name]["import_s"].append(round(_import_s(python, STACKS[name][1]), 3))
    probe = _page_probe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADIO_")}
    for i in range(repeats):
        for name, python in pythons.items():
            stack = "gradio" if name == "Gradio" else "revive-ui"
            run = _serve_once(python, stack, models, photo, work, env, probe if i == 0 else None)
            results[name]["first_page_s"].append(run["first_page_s"])
            if i == 0:
                results[name]["outbound"], results[name]["page"] = run["outbound"], run["page"]
    quiet = _serve_once(pythons["Gradio"], "gradio", models, photo, work, {**env, "GRADIO_ANALYTICS_ENABLED": "False"},
                        probe)
    results["Gradio"]["outbound_analytics_off"], results["Gradio"]["page_analytics_off"] = quiet["outbound"], quiet["page"]
    for r in results.values():
        r["import_s_median"] = statistics.median(r["import_s"])
        r["first_page_s_median"] = statistics.median(r["first_page_s"])
    versions = {name: {p: v for p, v in _packages(py).items() if p in ("gradio", "starlette", "uvicorn", "python-multipart")}
                for name, py in pythons.items()}
    return {"base_mb": round(base_mb, 1), "base_packages": len(base_packages), "stacks": results, "versions": versions,
            "repeats": repeats}


def _markdown(data: dict[str, Any]) -> str:
    from .report import machine_line

    rows = []
    for name, r in data["stacks"].items():
        page = r.get("page") or {}
        outbound = f"{len(r['outbound'])}" + (f" ({len(r['outbound_analytics_off'])} with analytics off)"
                                              if "outbound_analytics_off" in r else "")
        hosts = sorted({e[1].split(":")[0] for e in r["outbound"]})
        rows.append([name, r["added_mb"], str(len(r["packages_added"])),
                     ", ".join(f"{p} {v}" for p, v in r["replaced"].items()) or "none",
                     r["import_s_median"], r["first_page_s_median"], outbound + (f": {', '.join(hosts)}" if hosts else ""),
                     f"{page.get('requests', 'n/a')} / {page.get('kb', 'n/a')} KB / {len(page.get('elsewhere', [])) if page else 'n/a'}",
                     page.get("load_s")])
    header = ["stack", "MB over revive", "packages added", "revive deps replaced", "cold import s (median)",
              "start to first page s (median)", "outbound attempts", "page: requests / size / to other origins",
              "page load s (Chromium)"]
    return (f"# revive-ui: web stack\n\n{machine_line(data['machine'])}\n\nCommand: `{data['command']}`\n\n"
            f"Base: `pip install revive` alone, {data['base_mb']} MB of site-packages, {data['base_packages']} packages. "
            f"Medians of {data['repeats']} runs, alternating the stacks. revive-ui starts with its two stand-in models "
            "loaded and serves one POST /api/infer; Gradio serves an app with an ImageSlider and a File upload only.\n\n"
            + markdown_table(header, rows) + f"\nVersions: {json.dumps(data['versions'])}\n")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m revive.benchmarks.ui_stack", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="import and start runs per stack (default %(default)s)")
    p.add_argument("--workdir", type=Path, help="keep the venvs here (reused by a rerun; default: a temporary folder)")
    p.add_argument("--out", type=Path, help="results folder (default benchmarks/results/<machine>/)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ui-stack-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        body = measure(work, args.repeats)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    command = "python -m revive.benchmarks.ui_stack " + " ".join(argv if argv is not None else sys.argv[1:])
    data = write_results("ui_stack", command.strip(), body, _markdown, out=args.out)
    print(_markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
