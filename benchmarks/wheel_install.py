"""Installs the carried packages on the GPU machine: python3 /tmp/wh/install.py [PARTS_DIR [SITE]].

Written into .whl/load1 by ``benchmarks/gpu_wheels.py --pack``. It checks every part named in MANIFEST.json
against its sha256, joins each archive's parts in order and unpacks the archive into SITE (default /tmp/site:
put it first on PYTHONPATH). An archive with a part missing or damaged is named and left out; the exit status is 1
when the core archive (onnxruntime-gpu, segmentation-models-pytorch) is not installed. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tarfile
from pathlib import Path


class _Joined:
    """The parts of one archive read as one stream, in order."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths, self.current = list(paths), None

    def read(self, size: int = -1) -> bytes:
        out = b""
        while size < 0 or len(out) < size:
            if self.current is None:
                if not self.paths:
                    break
                self.current = self.paths.pop(0).open("rb")
            chunk = self.current.read(-1 if size < 0 else size - len(out))
            if not chunk:
                self.current.close()
                self.current = None
                continue
            out += chunk
        return out


def _problems(folder: Path, parts: list[dict]) -> list[str]:
    found = []
    for part in parts:
        path = folder / part["name"]
        if not path.is_file():
            found.append(f"{part['name']} missing (load{part['load']})")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != part["sha256"]:
            found.append(f"{part['name']} damaged (sha256 differs; carry load{part['load']} again)")
    return found


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parent
    site = Path(argv[1]) if len(argv) > 1 else Path("/tmp/site")
    site.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    installed = []
    for archive, parts in manifest.items():
        problems = _problems(folder, parts)
        if problems:
            print(f"install: {archive} not installed: {'; '.join(problems)}")
            continue
        with tarfile.open(fileobj=_Joined([folder / p["name"] for p in parts]), mode="r|xz") as tar:
            tar.extractall(site, filter="data")
        installed.append(archive)
    print(f"install: {', '.join(installed) or 'nothing'} unpacked into {site}")
    return 0 if "core.tar.xz" in installed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
