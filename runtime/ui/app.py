"""The web application: the page, its JSON API and ``POST /api/infer``, on Starlette (``pip install 'revive[ui]'``).

Routes (every error is JSON ``{"error": "one line"}`` with a 4xx status)::

    GET  /                                       the page (static/: HTML, CSS, JS; nothing from elsewhere)
    GET  /api/config                             models, route, views, limits: what the page needs to know
    POST /api/batches                            a new batch -> {"id"}
    POST /api/batches/{id}/photos                multipart field "image" (a photo or a zip; repeatable):
                                                 {"photos": [...], "refused": ["one line", ...]}
    GET  /api/batches/{id}                       every photo's status, place in the queue, reason
    GET  /api/batches/{id}/photos/{n}/preview/{before|result|restored|mask}
    GET  /api/batches/{id}/photos/{n}/download/{result|restored|mask}   the file at native size
    GET  /api/batches/{id}/zip                   every finished result (and restored gray) as one zip
    POST /api/infer[?view=result|restored|mask]  multipart field "image": the encoded result, or a JSON error

Starlette is imported inside :func:`build_app`, so importing this module costs nothing without the extra.
Every response forbids the browser to load anything from another origin (Content-Security-Policy): the page
works offline by construction, and a test in a real Chromium proves it makes no request elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..images import DecodeError
from .desk import Desk
from .uploads import UploadError, UploadTooLarge

__all__ = ["CSP", "build_app"]

STATIC = Path(__file__).resolve().parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_MULTIPART_ROOM = 64 * 1024  # a multipart body is the file plus its headers and boundaries
_MEDIA = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".tif": "image/tiff",
          ".tiff": "image/tiff", ".webp": "image/webp", ".zip": "application/zip"}


def _config(desk: Desk) -> dict[str, Any]:
    cfg = desk.options
    return {"route": list(desk.route.tasks), "models": [b.path.name for b in desk.backends], "views": list(desk.views),
            "format": cfg.fmt, "max_pixels": cfg.max_pixels or 0, "max_upload_bytes": desk.max_upload_bytes}


def build_app(desk: Desk):
    """The Starlette application serving ``desk``."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
    from starlette.background import BackgroundTask

    max_pixels = desk.options.max_pixels

    def error(status: int, reason: str) -> JSONResponse:
        return JSONResponse({"error": " ".join(reason.split())}, status_code=status)

    def batch_of(request: Request):
        batch = desk.batch(request.path_params["batch"])
        if batch is None:
            raise HTTPException(404, "no such batch (the page was restarted?): reload the page")
        return batch

    def photo_of(request: Request):
        batch = batch_of(request)
        index = request.path_params["index"]
        if not 0 <= index < len(batch.photos):
            raise HTTPException(404, f"no photo {index} in this batch")
        photo = batch.photos[index]
        if photo.status != "done":
            raise HTTPException(409, f"{photo.name}: not finished ({photo.status})")
        view = request.path_params["view"]
        if view not in desk.views and view != "before":
            raise HTTPException(404, f"no {view!r} view; this route has {', '.join(desk.views)}")
        return batch, photo, view

    def images_of(form) -> list:
        files = [f for f in form.getlist("image") if hasattr(f, "filename")]
        if not files:
            raise HTTPException(400, "no file in multipart field 'image'")
        return files

    def refusal(exc: UploadError) -> JSONResponse:
        return error(413 if isinstance(exc, UploadTooLarge) else 422, str(exc))

    async def page(request: Request):
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def config(request: Request):
        return JSONResponse(_config(desk))

    async def new_batch(request: Request):
        batch = await run_in_threadpool(desk.new_batch)
        return JSONResponse({"id": batch.id}, status_code=201)

    async def add_photos(request: Request):
        """Every file of the request is taken or refused on its own; all refused: the first one's 4xx."""
        batch = batch_of(request)
        added, refused = [], []
        async with request.form(max_files=1000, max_fields=10) as form:  # closes the spooled uploads
            for upload in images_of(form):
                try:
                    added += await run_in_threadpool(desk.add, batch, upload.filename or "photo", upload.file)
                except UploadError as exc:
                    refused.append(exc)
        if refused and not added:
            return refusal(refused[0])
        state = desk.state(batch)
        return JSONResponse({"photos": [state["photos"][p.index] for p in added],
                             "refused": [" ".join(str(exc).split()) for exc in refused]}, status_code=201)

    async def batch_state(request: Request):
        return JSONResponse(desk.state(batch_of(request)))

    async def preview(request: Request):
        from .views import preview as make_preview

        _, photo, view = photo_of(request)
        path = await run_in_threadpool(make_preview, photo, view, max_pixels)
        return FileResponse(path, media_type=_MEDIA[path.suffix], headers={"Cache-Control": "private, max-age=3600"})

    async def download(request: Request):
        from .views import download as download_file

        _, photo, view = photo_of(request)
        if view == "before":
            raise HTTPException(404, "the original is yours already: download result, restored or mask")
        path = await run_in_threadpool(download_file, photo, view, max_pixels)
        return FileResponse(path, media_type=_MEDIA.get(path.suffix.lower()), filename=path.name)

    async def zip_all(request: Request):
        from .views import results_zip

        batch = batch_of(request)
        done = [p for p in batch.photos if p.status == "done"]
        if not done:
            raise HTTPException(409, "no finished photos to download yet")
        path = await run_in_threadpool(results_zip, batch, done)
        return FileResponse(path, media_type="application/zip", filename="revive-results.zip")

    async def infer(request: Request):
        view = request.query_params.get("view", "result")
        if view not in desk.views:
            return error(400, f"view={view}: this route has {', '.join(desk.views)}")
        async with request.form(max_files=2, max_fields=10) as form:  # closes the spooled upload
            files = images_of(form)
            if len(files) != 1:
                return error(400, f"one file per request in field 'image' (got {len(files)})")
            try:
                photo = await run_in_threadpool(desk.infer_now, files[0].filename or "upload", files[0].file)
            except UploadError as exc:
                return refusal(exc)
        cleanup = BackgroundTask(desk.forget, photo)
        if photo.status != "done":
            desk.forget(photo)
            return error(422, f"{photo.name}: {photo.reason}")
        from .views import download as download_file

        try:
            path = await run_in_threadpool(download_file, photo, view, max_pixels)
        except DecodeError as exc:
            desk.forget(photo)
            return error(422, f"{photo.name}: {exc}")
        return FileResponse(path, media_type=_MEDIA.get(path.suffix.lower()), filename=path.name,
                            headers={"X-Revive-Seconds": f"{photo.seconds:.3f}"}, background=cleanup)

    async def http_error(request: Request, exc: HTTPException):
        return error(exc.status_code, str(exc.detail))

    routes = [
        Route("/", page),
        Route("/api/config", config),
        Route("/api/batches", new_batch, methods=["POST"]),
        Route("/api/batches/{batch}", batch_state),
        Route("/api/batches/{batch}/photos", add_photos, methods=["POST"]),
        Route("/api/batches/{batch}/photos/{index:int}/preview/{view}", preview),
        Route("/api/batches/{batch}/photos/{index:int}/download/{view}", download),
        Route("/api/batches/{batch}/zip", zip_all),
        Route("/api/infer", infer, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return Guard(app, desk.max_upload_bytes)


class Guard:
    """ASGI middleware: refuse a request body over the upload limit (413) and add the security headers.

    The body is counted as it arrives, so a request without Content-Length cannot slip past the limit.
    """

    _HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]

    def __init__(self, app, max_body: int) -> None:
        self.app = app
        self.max_body = max_body + _MULTIPART_ROOM if max_body else 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self._HEADERS]}
            await send(message)

        limit = self.max_body
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if limit and declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(send_with_headers, int(declared))
            return
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if limit and received > limit:  # the route's error handler answers 413
                    from starlette.exceptions import HTTPException

                    raise HTTPException(413, self._reason(received))
            return message

        await self.app(scope, counted_receive if limit else receive, send_with_headers)

    def _reason(self, size: int) -> str:
        limit_mb = (self.max_body - _MULTIPART_ROOM) / 1e6
        return f"upload of {size / 1e6:.1f} MB or more is over the limit of {limit_mb:.1f} MB (--max-upload-mb)"

    async def _too_large(self, send, size: int) -> None:
        body = json.dumps({"error": self._reason(size)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
