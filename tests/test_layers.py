"""The layering rules of DESIGN.md: the runtime stays lean and never reaches up the stack."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import revive.runtime

ROOT = Path(__file__).resolve().parents[1]


def runtime_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(revive.runtime.__path__, "revive.runtime.")]


def test_runtime_cli_import_does_not_load_torch():
    code = "import sys, revive.runtime.cli; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_runtime_module_loads_torch():
    mods = runtime_modules()
    assert "revive.runtime.backends.ort" in mods
    code = ("import importlib, sys\n"
            f"for m in {mods!r}:\n"
            "    importlib.import_module(m)\n"
            "    assert 'torch' not in sys.modules, m + ' imported torch'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def _imports(folder: Path) -> set[tuple[Path, str]]:
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {(path, a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((path, node.module))
    return found


def test_dependencies_point_one_way():
    forbidden = {
        "runtime": ("torch", "revive.train", "revive.export", "revive.benchmarks"),
        "train": ("revive.export", "revive.benchmarks"),
        "export": ("revive.benchmarks",),
    }
    bad = [f"{p.relative_to(ROOT)} imports {m}" for layer, banned in forbidden.items()
           for p, m in _imports(ROOT / layer) if m.split(".")[0] in banned or m.startswith(banned)]
    assert not bad, bad


def test_no_module_shadows_a_dependency():
    # Scripts run by path put their folder first on sys.path (DESIGN.md).
    shadows = {"onnx", "tensorrt", "torch", "cuda", "numpy", "onnxruntime", "PIL", "tqdm", "skimage",
               "timm", "pycuda", "onnxscript", "matplotlib", "tensorrt_rtx"}
    names = {p.stem for layer in ("runtime", "train", "export", "benchmarks") for p in (ROOT / layer).rglob("*.py")}
    assert not names & shadows
