"""Run by ``ui_stack.py`` with a fresh venv's Python: serve one web stack's page on a loopback port and record
every network attempt the process makes, through Python's audit hooks (installed before anything is imported).

    python benchmarks/ui_probe.py gradio|revive-ui PORT EVENTS.json STOPFILE [MODEL ...]

Serves until STOPFILE exists, stops the server, writes ``{"events": [[event, address], ...], "import_s",
"start_s"}``. Only the standard library, the stack and (for revive-ui) revive are imported: the venv has no more.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

EVENTS: list[list[str]] = []


def _address(address: object) -> str:
    if isinstance(address, tuple) and address:
        return f"{address[0]}:{address[1]}" if len(address) > 1 else str(address[0])
    return str(address)


def _hook(event: str, args: tuple) -> None:
    if event in ("socket.connect", "socket.sendto"):
        EVENTS.append([event, _address(args[1])])
    elif event == "socket.getaddrinfo":
        EVENTS.append([event, str(args[0])])


def _gradio(port: int):
    import gradio as gr

    imported = time.perf_counter()
    with gr.Blocks() as demo:  # the components revive-ui would need: a before/after slider and multi-file upload
        gr.ImageSlider()
        gr.File(file_count="multiple")
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return imported, demo.close


def _revive_ui(port: int, models: list[str]):
    from revive.runtime.backends import open_backend
    from revive.runtime.infer import InferOptions
    from revive.runtime.ui.app import build_app
    from revive.runtime.ui.desk import Desk
    from revive.runtime.ui.server import UiServer

    imported = time.perf_counter()
    backends = [open_backend(m) for m in models]
    desk = Desk(backends, InferOptions(), Path(tempfile.mkdtemp(prefix="ui-probe-")))
    server = UiServer(build_app(desk), "127.0.0.1", port)
    server.start()

    def stop() -> None:
        server.stop()
        desk.close()

    return imported, stop


def main(argv: list[str]) -> int:
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path.pop(0)  # run by path: benchmarks/ itself must not shadow a module the stack imports
    stack, port, events, stop_file, models = argv[0], int(argv[1]), Path(argv[2]), Path(argv[3]), argv[4:]
    sys.addaudithook(_hook)
    start = time.perf_counter()
    imported, stop = _gradio(port) if stack == "gradio" else _revive_ui(port, models)
    started = time.perf_counter()
    while not stop_file.exists():
        time.sleep(0.05)
    stop()
    events.write_text(json.dumps({"events": EVENTS, "import_s": round(imported - start, 3),
                                  "start_s": round(started - start, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
