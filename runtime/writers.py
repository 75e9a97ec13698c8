"""runtime-infer's writers: a job's finished pictures into its output files (the :class:`~revive.runtime.sink.Writer`
the pipeline's sinks feed).

- :class:`PictureFiles`: each picture to files of its own, written atomically as it comes: ``x.png`` (and
  ``x.restored.png``), or ``x.p1.png``, ``x.p2.png`` for the pages of a multi-page input in another format.
- :class:`MultiPageTiff`: the pages of a multi-page input into one TIFF (and one for the restored gray),
  appended page by page to a temporary file beside the output and renamed into place once the last page is
  in, so a reader never sees half a document. A page that failed is left out (the summary names it).

``--keep-mtime`` gives each output its input's modification time once it is in place.
"""

from __future__ import annotations

import os
from pathlib import Path

from .encode import EncodeOptions, TiffPages, encode
from .files import AtomicFile, write_atomic
from .inputs import Job
from .render import Finished

__all__ = ["MultiPageTiff", "PictureFiles", "file_writer"]


def file_writer(job: Job, config) -> PictureFiles | MultiPageTiff:
    """The writer of ``job`` for a :class:`~revive.runtime.pipeline.PipelineConfig` (or anything with
    ``quality``, ``compression`` and ``keep_mtime``)."""
    options = EncodeOptions(quality=config.quality, compression=config.compression)
    if job.fmt == "tiff" and len(job.pages) > 1:
        return MultiPageTiff(job, options, config.keep_mtime)
    return PictureFiles(job, options, config.keep_mtime)


def keep_mtime(path: Path, source: Path) -> None:
    st = os.stat(source)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


class PictureFiles:
    def __init__(self, job: Job, options: EncodeOptions, mtime: bool = False) -> None:
        self.job, self.options, self.mtime = job, options, mtime

    def write(self, index: int, finished: Finished) -> None:
        out, restored = self.job.outputs(index)
        files = [(out, finished.picture)]
        if restored is not None and finished.restored is not None:
            files.insert(0, (restored, finished.restored))
        for path, picture in files:
            write_atomic(path, encode(picture, self.job.fmt, finished.meta, self.options))
            if self.mtime:
                keep_mtime(path, self.job.source)

    def skip(self, index: int, reason: str) -> None:
        pass  # nothing to write; the job's status and the summary carry the reason

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass  # every file written so far is complete (atomic); a rerun redoes the job


class MultiPageTiff:
    def __init__(self, job: Job, options: EncodeOptions, mtime: bool = False) -> None:
        self.job, self.options, self.mtime = job, options, mtime
        self._files: dict[str, tuple[AtomicFile, TiffPages]] = {}

    def _pages(self, name: str, path: Path) -> TiffPages:
        if name not in self._files:
            target = AtomicFile(path)
            self._files[name] = (target, TiffPages(target.handle, self.options, len(self.job.pages)))
        return self._files[name][1]

    def write(self, index: int, finished: Finished) -> None:
        if self.job.restored is not None and finished.restored is not None:
            self._pages("restored", self.job.restored).add(finished.restored, finished.meta)
        self._pages("picture", self.job.output).add(finished.picture, finished.meta)

    def skip(self, index: int, reason: str) -> None:
        pass

    def close(self) -> None:
        for target, pages in self._files.values():
            pages.close()
            target.commit()
            if self.mtime:
                keep_mtime(target.path, self.job.source)
        self._files.clear()

    def abort(self) -> None:
        for target, _ in self._files.values():
            target.discard()
        self._files.clear()
