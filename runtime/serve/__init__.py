"""``revive-serve``: the runtime behind NVIDIA Triton Inference Server, through PyTriton.

Triton (the ``tritonserver`` that ``nvidia-pytriton`` bundles) owns the network side: HTTP and gRPC
endpoints, health, Prometheus metrics, its dynamic batcher and instance groups. Each batch it forms
reaches :class:`~revive.runtime.serve.service.ImageService`, which runs the runtime's own steps (decode,
the model's view, the backend(s), native-resolution compositing, encode), so a response holds the same
pixels runtime-infer writes for the same file.

Modules: ``service`` (plain data in, plain data out; no Triton), ``server`` (binds the service to
PyTriton, start and stop), ``cli`` (the flags). Nothing here is imported by the rest of the runtime, and
PyTriton is imported only when a server starts: ``pip install 'revive[serve]'`` brings it.
"""

__all__: list[str] = []
