"""revive.runtime: the lean inference side (numpy, Pillow, onnxruntime; TensorRT when present).

Nothing here imports torch; a test proves it. The library entry point is :func:`infer_files`
(``from revive.runtime import InferOptions, LayoutOptions, infer_files``), imported on first use.
"""

__all__ = ["InferOptions", "LayoutOptions", "RunStats", "infer_files", "plan_files"]

_HOMES = {"InferOptions": "infer", "infer_files": "infer", "plan_files": "infer", "LayoutOptions": "layout",
          "RunStats": "pipeline"}


def __getattr__(name: str):
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
