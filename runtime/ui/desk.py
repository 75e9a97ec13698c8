"""The page's photos and the queue that runs them, in the order they came, through ``infer_files``.

Why ``infer_files`` once per photo and not the per-image steps: a download must be the very file
``runtime-infer`` writes for that photo (its naming, encoding, atomic write, bad-file handling and whatever
fidelity the runtime learns later), and the library entry point is the one place all of that lives. The
backends are opened once at start-up and handed to every call, so a call costs the pipeline's threads,
not a model load. One photo per call gives the page what a person watches for: each result as soon as it
is done, and each bad photo's reason at once; the price is that photos do not share batches (a large scan
still fills its batches with its own tiles) and that one call alone cannot overlap photos.

One queue serves every visitor and ``POST /api/infer`` alike (the queue Gradio gives its apps), drained by
``concurrency`` worker threads: photos start in the order they came and at most that many run at once, so
a tenth visitor waits instead of slowing everyone down. Two at once (the default) win back most of the
overlap one call per photo loses, one photo's encoding beside the next one's models (README "Web page" has
the figures, benchmarks/ui_queue.py measures them).
"""

from __future__ import annotations

import logging
import queue
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..backends import Backend
from ..errors import UserError, describe
from ..infer import InferOptions, infer_files
from ..render import Route
from .uploads import Upload, save_upload

__all__ = ["Batch", "Desk", "Photo", "VIEWS"]

log = logging.getLogger(__name__)
# What the page can show of a finished photo: the result, the restored gray, the damage mask.
VIEWS = ("result", "restored", "mask")


@dataclass
class Photo:
    index: int  # position in its batch
    name: str  # as the user knows it (a zip member keeps its folders)
    source: Path  # the uploaded copy
    status: str = "queued"  # queued, running, done, failed
    reason: str = ""  # one line, for a failed photo
    output: Path | None = None  # what runtime-infer writes for it
    restored: Path | None = None  # NAME.restored.EXT, when the route restores then colorizes
    seconds: float = 0.0
    ticket: int = 0  # order in the worker's queue
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def folder(self) -> Path:
        return self.source.parent

    def fail(self, reason: str) -> None:
        self.status, self.reason = "failed", reason
        self.finished.set()


@dataclass
class Batch:
    id: str
    folder: Path
    photos: list[Photo] = field(default_factory=list)
    uploads: int = 0  # uploads received (each gets its own folder)


class Desk:
    """Batches of uploaded photos, run one after another on open ``backends`` with ``options``.

    Raises ``CardError`` at once for a route the options cannot serve, as ``runtime-infer`` would per run.
    """

    def __init__(self, backends: list[Backend], options: InferOptions, root: Path, max_upload_bytes: int = 0,
                 concurrency: int = 2) -> None:
        self.backends = backends
        self.route = Route.from_cards([b.card for b in backends])
        self.route.check(options.layout, options.native)
        restored_too = self.route.tasks == ("restore", "colorize") or self.route.tasks == ("pipeline",)
        self.options = replace(options, save_restored=restored_too, progress=False, summary=None, overwrite=True)
        self.root = root
        self.max_upload_bytes = max_upload_bytes
        self._batches: dict[str, Batch] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Photo | None] = queue.Queue()
        self._tickets = 0
        self._started = 0  # the last ticket a worker took (tickets start in order)
        self._workers = [threading.Thread(target=self._work, name=f"revive-ui-worker-{i}", daemon=True)
                         for i in range(concurrency)]
        for worker in self._workers:
            worker.start()

    @property
    def views(self) -> tuple[str, ...]:
        """The views a finished photo has: the result, plus the restored gray and the mask when restoring."""
        if not self.route.restores:
            return ("result",)
        return VIEWS if self.options.save_restored else ("result", "mask")

    # -- batches ------------------------------------------------------------------------------------
    def new_batch(self) -> Batch:
        batch_id = secrets.token_urlsafe(12)  # unguessable: with --public, visitors cannot see each other's
        batch = Batch(batch_id, self.root / batch_id)
        batch.folder.mkdir(parents=True)
        with self._lock:
            self._batches[batch_id] = batch
        return batch

    def batch(self, batch_id: str) -> Batch | None:
        with self._lock:
            return self._batches.get(batch_id)

    def add(self, batch: Batch, name: str, data: BinaryIO) -> list[Photo]:
        """Save one upload (a photo or a zip of them) into ``batch`` and queue its photos.

        Raises UploadError for an upload refused whole; a zip member that cannot be unpacked is a failed photo.
        """
        with self._lock:
            batch.uploads += 1
            folder = batch.folder / f"u{batch.uploads}"
        uploads = self._save(name, data, folder)
        photos = []
        with self._lock:
            for upload in uploads:
                photo = Photo(len(batch.photos), upload.name, upload.path)
                batch.photos.append(photo)
                photos.append(photo)
                if upload.error:
                    photo.fail(upload.error)
                else:
                    self._tickets += 1
                    photo.ticket = self._tickets
                    self._queue.put(photo)
        return photos

    def infer_now(self, name: str, data: BinaryIO, timeout: float | None = None) -> Photo:
        """Run one upload (never a zip) through the queue and wait for it: ``POST /api/infer``.

        The caller removes ``photo.folder`` once it has sent the result.
        """
        upload = self._save(name, data, self.root / "api" / secrets.token_hex(8), unzip=False)[0]
        photo = Photo(0, upload.name, upload.path)
        with self._lock:
            self._tickets += 1
            photo.ticket = self._tickets
            self._queue.put(photo)
        photo.finished.wait(timeout)
        return photo

    def _save(self, name: str, data: BinaryIO, folder: Path, unzip: bool = True) -> list[Upload]:
        try:
            return save_upload(name, data, folder, self.max_upload_bytes, unzip=unzip)
        except BaseException:  # refused (too large, a broken zip) or interrupted: keep no part of it
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def state(self, batch: Batch) -> dict[str, Any]:
        """What the page shows: every photo's status, place in the queue, reason and views."""
        with self._lock:
            started = self._started
            photos = [self._photo_state(p, started) for p in batch.photos]
        counts = {s: sum(p["status"] == s for p in photos) for s in ("queued", "running", "done", "failed")}
        return {"id": batch.id, "counts": counts, "photos": photos}

    def _photo_state(self, photo: Photo, started: int) -> dict[str, Any]:
        state: dict[str, Any] = {"index": photo.index, "name": photo.name, "status": photo.status}
        if photo.status == "queued":
            state["ahead"] = max(0, photo.ticket - started - 1)  # photos (anyone's) to start before this one
        if photo.status == "failed":
            state["reason"] = photo.reason
        if photo.status == "done":
            state["seconds"] = round(photo.seconds, 2)
            state["views"] = list(self.views)
            state["file"] = photo.output.name
        return state

    # -- the worker ---------------------------------------------------------------------------------
    def _work(self) -> None:
        while (photo := self._queue.get()) is not None:
            with self._lock:
                self._started = max(self._started, photo.ticket)
                photo.status = "running"
            self._run(photo)

    def _run(self, photo: Photo) -> None:
        start = time.perf_counter()
        status, reason, job = "failed", "", None
        try:
            job = infer_files(self.backends, [photo.source], photo.folder / "out", self.options).jobs[0]
            if job.status == "written":
                status = "done"
            else:
                reason = job.reason or f"not written ({job.status})"
        except UserError as exc:
            reason = str(exc)
        except Exception as exc:  # a backend failing: this photo fails, the page keeps serving the next ones
            log.exception("%s: failed", photo.name)
            reason = describe(exc)
        with self._lock:
            if status == "done":
                photo.output, photo.restored = job.output, job.restored
            photo.status, photo.reason, photo.seconds = status, reason, time.perf_counter() - start
        photo.finished.set()

    def close(self) -> None:
        """Stop the workers after the photos they run now; queued photos fail with the reason (no one waits forever)."""
        while True:
            try:
                photo = self._queue.get_nowait()
            except queue.Empty:
                break
            if photo is not None:
                photo.fail("not run: the page was stopped")
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join()

    def forget(self, photo: Photo) -> None:
        """Remove a photo's files (``POST /api/infer`` keeps nothing)."""
        shutil.rmtree(photo.folder.parent, ignore_errors=True)
