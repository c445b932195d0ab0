"""img2img "Batch": one generation per input image, run by the backend; front ends only start and follow it.

``start_img2img_batch`` starts a small coordinator thread that submits one job per input file to the job
queue, one after another (so other users' jobs can interleave, and interrupting the running job stops the
rest), keeps the results and, when an output directory is given, saves each result there under the input's
file name (as A1111 does). The returned ``Img2ImgBatchRun`` is the handle: the job running now, which input it
is, the results so far, and what stopped the batch.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from modules.jobs.queue import Job
from modules.processing.params import GenerationParams

if TYPE_CHECKING:
    from modules.processing.service import GenerationService

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".avif")


def snap_size(value: float) -> int:
    """A side length the models take: a multiple of 8 between 64 and 2048."""
    return int(min(2048, max(64, round(value / 8) * 8)))


def mask_for(mask_dir: str, image_path: Path) -> Image.Image | None:
    """The mask for ``image_path`` in ``mask_dir``: the same file name with any image extension."""
    if not mask_dir:
        return None
    for candidate in sorted(Path(mask_dir).glob(image_path.stem + ".*")):
        if candidate.suffix.lower() in IMAGE_SUFFIXES:
            with Image.open(candidate) as opened:
                return opened.copy()
    return None


@dataclasses.dataclass(frozen=True)
class Img2ImgBatch:
    """What to run: the input files, the shared parameters, masks, where results go, and sizing."""

    files: tuple[Path, ...]
    base: GenerationParams
    mask_dir: str = ""
    output_dir: str = ""  # "": results are saved as usual (outputs/img2img-images); else only here
    scale_by: float | None = None  # None: the base width/height; else each input's size times this

    def params_for(self, path: Path) -> GenerationParams:
        """The parameters for one input (its image, its mask, its size when scaling)."""
        with Image.open(path) as opened:
            image = opened.copy()
        params = self.base
        if self.scale_by is not None:
            width, height = snap_size(image.width * self.scale_by), snap_size(image.height * self.scale_by)
            params = dataclasses.replace(params, width=width, height=height)
        return dataclasses.replace(
            params,
            init_images=(image,),
            mask=mask_for(self.mask_dir, path),
            do_not_save_samples=bool(self.output_dir),
        )


class Img2ImgBatchRun:
    """The handle of a running batch (read from any thread)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.number = 0  # 1-based index of the input whose job is current
        self.images: list[Any] = []
        self.infotexts: list[str] = []
        self.seeds: list[int] = []
        self.failed_job: Job | None = None  # the job that ended without a result (interrupted, invalid, failed)
        self.input_error: tuple[str, Exception] | None = None  # (file name, why) of an unreadable/unsaved file
        self._current: Job | None = None
        self._finished = False
        self._cond = threading.Condition()

    @property
    def done(self) -> bool:
        with self._cond:
            return self._finished

    def next_job(self, after: Job | None, timeout: float | None = None) -> Job | None:
        """Wait until a job other than ``after`` is current and return it; None once the batch has ended."""
        with self._cond:
            self._cond.wait_for(lambda: self._finished or self._current is not after, timeout)
            return None if self._finished else self._current

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._finished, timeout)

    def _start(self, number: int, job: Job) -> None:
        with self._cond:
            self.number, self._current = number, job
            self._cond.notify_all()

    def _finish(self) -> None:
        with self._cond:
            self._finished, self._current = True, None
            self._cond.notify_all()


def start_img2img_batch(generation: GenerationService, settings: Any, batch: Img2ImgBatch) -> Img2ImgBatchRun:
    """Start running ``batch``; its first job is queued before this returns."""
    run = Img2ImgBatchRun(len(batch.files))
    first = _submit(generation, batch, run, 1)
    thread = threading.Thread(
        target=_run, args=(generation, settings, batch, run, first), name="img2img-batch", daemon=True
    )
    thread.start()
    return run


def _submit(generation: GenerationService, batch: Img2ImgBatch, run: Img2ImgBatchRun, number: int) -> Job | None:
    path = batch.files[number - 1]
    try:
        job = generation.submit(batch.params_for(path))
    except (OSError, ValueError) as error:  # unreadable image, impossible parameters
        run.input_error = (path.name, error)
        return None
    run._start(number, job)
    return job


def _run(
    generation: GenerationService, settings: Any, batch: Img2ImgBatch, run: Img2ImgBatchRun, job: Job | None
) -> None:
    try:
        number = 1
        while job is not None:
            try:
                processed = job.wait()
            except BaseException:  # interrupted, invalid or failed: the handle names it, the rest is skipped
                run.failed_job = job
                return
            _collect(settings, batch, run, processed, batch.files[number - 1])
            if run.input_error is not None or number == len(batch.files):
                return
            number += 1
            job = _submit(generation, batch, run, number)
    except Exception as error:  # never leave a follower waiting
        log.exception("img2img batch stopped")
        run.input_error = ("batch", error)
    finally:
        run._finish()


def _collect(settings: Any, batch: Img2ImgBatch, run: Img2ImgBatchRun, processed: Any, path: Path) -> None:
    from modules.images.save import save_image

    first = processed.index_of_first_image
    for index, image in enumerate(processed.images[first:]):
        infotext = processed.infotexts[min(first + index, len(processed.infotexts) - 1)]
        run.images.append(image)
        run.infotexts.append(infotext)
        run.seeds.append(processed.all_seeds[index] if index < len(processed.all_seeds) else processed.seed)
        if batch.output_dir:
            name = path.stem if index == 0 else f"{path.stem}-{index}"
            try:
                save_image(
                    image,
                    Path(batch.output_dir),
                    infotext=infotext,
                    settings=settings,
                    forced_filename=name,
                    save_to_dirs=False,
                )
            except OSError as error:
                run.input_error = (name, error)
                return
