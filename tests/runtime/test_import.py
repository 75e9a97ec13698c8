"""The runtime never imports torch: proved in a clean interpreter."""

from __future__ import annotations

import subprocess
import sys


def test_cli_and_pipeline_do_not_import_torch():
    code = ("import sys\n"
            "import revive.runtime.cli, revive.runtime.pipeline, revive.runtime.images, revive.runtime.inputs, "
            "revive.runtime.composite, revive.runtime.backends.ort\n"
            "revive.runtime.cli.build_parser()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
