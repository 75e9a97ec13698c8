"""revive.runtime.ui: ``revive-ui``, a web page on revive's own runtime (``pip install 'revive[ui]'``).

The page feeds ``infer_files`` (desk.py), so every download is the file ``runtime-infer`` writes. The web
stack (Starlette, uvicorn, python-multipart) is imported only when the page starts: importing this package,
or ``revive.runtime.cli``, loads none of it.
"""

__all__: list[str] = []
