"""What the built-in selectable scripts share: merging cell results and saving a labelled grid."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from typing import Any

from modules.processing.params import Processed

log = logging.getLogger(__name__)


def first_image(processed: Processed | None, size: tuple[int, int]) -> Any:
    """The image a cell shows (the batch grid when there is one); black when the cell was not rendered."""
    from PIL import Image

    if processed is None or not processed.images:
        return Image.new("RGB", size, "black")
    return processed.images[0]


def merge(
    p: Any,
    cells: Sequence[Processed | None],
    leading: Sequence[Any] = (),
    leading_infotexts: Sequence[str] = (),
    include_cells: bool = True,
) -> Processed:
    """One ``Processed`` for the whole run: ``leading`` images (grids) first, then every cell's own images."""
    done = [cell for cell in cells if cell is not None]
    if not done:
        from modules.jobs.queue import JobInterrupted

        raise JobInterrupted("Interrupted before any image was finished")
    images, infotexts = list(leading), list(leading_infotexts)
    if include_cells:
        for cell in done:
            own = cell.images[cell.index_of_first_image :]
            images += own
            infotexts += cell.infotexts[cell.index_of_first_image :][: len(own)]
    first = done[0]
    while len(infotexts) < len(images):
        infotexts.append(first.infotexts[0] if first.infotexts else "")
    return Processed(
        images=images,
        infotexts=infotexts,
        seed=first.seed,
        subseed=first.subseed,
        all_seeds=[s for cell in done for s in cell.all_seeds],
        all_subseeds=[s for cell in done for s in cell.all_subseeds],
        all_prompts=[t for cell in done for t in cell.all_prompts],
        all_negative_prompts=[t for cell in done for t in cell.all_negative_prompts],
        params=p.params,
        info_extra=dict(first.info_extra),
        saved_paths=[s for cell in done for s in cell.saved_paths],
        index_of_first_image=len(leading) if include_cells and len(images) > len(leading) else 0,
        interrupted=any(cell.interrupted for cell in done) or len(done) < len(cells),
        comments="\n".join(cell.comments for cell in done if cell.comments),
    )


def save_grid(p: Any, grid: Any, infotext: str, basename: str, data_dir: Any) -> str | None:
    """Save a script's grid where batch grids go, when the grid settings say so; returns the path."""
    if p.params.do_not_save_grid or not p.settings.get("grid_save"):
        return None
    from modules.images.save import save_image
    from modules.processing.outputs import filename_values, output_dir

    try:
        path = save_image(
            grid,
            output_dir(p, data_dir, grid=True),
            basename=basename,
            info=filename_values(p, 0),
            infotext=infotext,
            settings=p.settings,
            grid=True,
            now=datetime.datetime.now(),
        )
    except OSError as error:
        log.error("Could not save the %s grid: %s", basename, error)
        return None
    return str(path)


def save_sample(p: Any, image: Any, infotext: str, data_dir: Any) -> str | None:
    """Save a script's finished picture where samples go, when the sample settings say so; returns the path."""
    from modules.processing.outputs import save_sample as save

    try:
        return save(p, image, 0, infotext, data_dir, datetime.datetime.now())
    except OSError as error:
        log.error("Could not save the image: %s", error)
        return None
