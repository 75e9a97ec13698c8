"""revive.runtime: the lean inference side (numpy, Pillow, onnxruntime; TensorRT when present).

Nothing here imports torch; a test proves it.
"""
