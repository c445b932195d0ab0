"""Poor man's outpainting (img2img): grow the canvas in the chosen directions and inpaint only the tiles that
touch the new border, tile by tile at the Width/Height slider size, then blend the tiles together.

Script arguments (A1111 order): pixels, mask_blur, inpainting_fill (index: fill / original / latent noise /
latent nothing), direction (a list of "left", "right", "up", "down").
"""

from __future__ import annotations

import logging
import math
from typing import Any

from modules import scripts
from modules.builtin_scripts import _results, _tiles
from modules.processing.params import INPAINTING_FILL, InvalidParams

log = logging.getLogger(__name__)

DIRECTIONS = ("left", "right", "up", "down")


def expansion(width: int, height: int, pixels: int, directions: list[str]) -> tuple[int, int, int, int, int, int]:
    """(target_w, target_h, left, right, up, down): the canvas rounded up to multiples of 64 and the border
    on each side, the rounding shared between opposite sides in proportion, as A1111 does.

    >>> expansion(100, 64, 128, ["left", "right"])
    (256, 64, 78, 78, 0, 0)
    """
    left, right, up, down = (pixels if side in directions else 0 for side in DIRECTIONS)
    target_w = math.ceil((width + left + right) / 64) * 64
    target_h = math.ceil((height + up + down) / 64) * 64
    if left:
        left = left * (target_w - width) // (left + right)
    if right:
        right = target_w - width - left
    if up:
        up = up * (target_h - height) // (up + down)
    if down:
        down = target_h - height - up
    return target_w, target_h, left, right, up, down


def border_mask(size: tuple[int, int], sides: tuple[int, int, int, int], inset: int) -> Any:
    """White (repaint) everywhere but the old picture, shrunk by ``inset`` on each side that grew."""
    from PIL import Image, ImageDraw

    left, right, up, down = sides
    mask = Image.new("L", size, "white")
    ImageDraw.Draw(mask).rectangle(
        (
            left + (inset if left else 0),
            up + (inset if up else 0),
            size[0] - right - (inset if right else 0),
            size[1] - down - (inset if down else 0),
        ),
        fill="black",
    )
    return mask


class PoorMansOutpainting(scripts.Script):
    def title(self) -> str:
        return "Poor man's outpainting"

    def show(self, is_img2img: bool) -> bool:
        return is_img2img

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        pixels = gr.Slider(label="Pixels to expand", minimum=8, maximum=256, step=8, value=128)
        mask_blur = gr.Slider(label="Mask blur", minimum=0, maximum=64, step=1, value=4)
        fill = gr.Radio(label="Masked content", choices=list(INPAINTING_FILL), value="fill", type="index")
        direction = gr.CheckboxGroup(label="Outpainting direction", choices=list(DIRECTIONS), value=list(DIRECTIONS))
        return [pixels, mask_blur, fill, direction]

    def validate_args(self, args: tuple[Any, ...]) -> None:
        if len(args) > 3 and any(side not in DIRECTIONS for side in args[3] or ()):
            raise InvalidParams(f"Poor man's outpainting: directions must be among {', '.join(DIRECTIONS)}")

    def run(
        self,
        p: Any,
        pixels: int = 128,
        mask_blur: int = 4,
        inpainting_fill: int = 0,
        direction: Any = DIRECTIONS,
        *_: Any,
    ) -> Any:
        from PIL import Image

        self.validate_args((pixels, mask_blur, inpainting_fill, direction))
        pixels, mask_blur = int(pixels), int(mask_blur)
        init = p.params.init_images[0].convert("RGB")
        target_w, target_h, *sides = expansion(init.width, init.height, pixels, list(direction or ()))
        left, right, up, down = sides
        canvas = Image.new("RGB", (target_w, target_h))
        canvas.paste(init, (left, up))
        mask = border_mask(canvas.size, (left, right, up, down), mask_blur * 2)
        overlap = min(pixels, p.width - 8, p.height - 8)
        grid = _tiles.split(canvas, p.width, p.height, overlap)
        masks = _tiles.split(mask, p.width, p.height, overlap).tiles()

        def inside(tile: _tiles.Tile) -> bool:  # within the old picture: kept as it is
            return (
                tile.x >= left
                and tile.x + p.width <= target_w - right
                and tile.y >= up
                and (tile.y + p.height <= target_h - down)
            )

        work = [(tile, tile_mask) for tile, tile_mask in zip(grid.tiles(), masks, strict=True) if not inside(tile)]
        log.info("Poor man's outpainting: %d tiles to inpaint", len(work))
        cells = []
        seed = p.seed
        for tile, tile_mask in work:
            if p.job is not None and p.job.interrupted:
                break
            cell = self.process_images(
                p,
                init_images=(tile.image,),
                mask=tile_mask.image,
                mask_blur=mask_blur * 2,
                mask_blur_x=mask_blur * 2,
                mask_blur_y=mask_blur * 2,
                inpainting_fill=int(inpainting_fill),
                inpaint_full_res=False,
                seed=seed,
                batch_size=1,
                n_iter=1,
                do_not_save_samples=True,
                do_not_save_grid=True,
            )
            cells.append(cell)
            seed = cell.seed + 1
            tile.image = cell.images[cell.index_of_first_image]
        combined = _tiles.combine(grid)
        first_text = next((c.infotexts[0] for c in cells if c.infotexts), "")
        if not cells:
            raise InvalidParams("Poor man's outpainting: choose at least one direction to expand")
        merged = _results.merge(p, cells, [combined], [first_text], include_cells=False)
        merged.index_of_first_image = 0
        if not p.params.do_not_save_samples:
            path = _results.save_sample(p, combined, first_text, self.extension.paths.data)
            if path:
                merged.saved_paths.append(path)
        return merged
