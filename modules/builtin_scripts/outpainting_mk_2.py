"""Outpainting mk2 (img2img): grow the picture one side at a time; each new border starts from noise shaped
like the picture (``_matched_noise``) and is inpainted at up to the Width/Height slider size.

Script arguments (A1111 order): info (unused), pixels, mask_blur, direction (list of "left", "right", "up",
"down"), noise_q (fall-off exponent), color_variation.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from modules import scripts
from modules.builtin_scripts import _results
from modules.builtin_scripts._matched_noise import matched_noise
from modules.builtin_scripts.poor_mans_outpainting import DIRECTIONS, expansion
from modules.processing.params import InvalidParams

log = logging.getLogger(__name__)


def _ceil64(value: int) -> int:
    return math.ceil(value / 64) * 64


class OutpaintingMk2(scripts.Script):
    def title(self) -> str:
        return "Outpainting mk2"

    def show(self, is_img2img: bool) -> bool:
        return is_img2img

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        info = gr.HTML(
            '<p style="margin-bottom:0.75em">Recommended settings: Sampling Steps: 80-100, Sampler: Euler a, '
            "Denoising strength: 0.8</p>"
        )
        pixels = gr.Slider(label="Pixels to expand", minimum=8, maximum=256, step=8, value=128)
        mask_blur = gr.Slider(label="Mask blur", minimum=0, maximum=64, step=1, value=8)
        direction = gr.CheckboxGroup(label="Outpainting direction", choices=list(DIRECTIONS), value=list(DIRECTIONS))
        noise_q = gr.Slider(
            label="Fall-off exponent (lower=higher detail)", minimum=0.0, maximum=4.0, step=0.01, value=1.0
        )
        color_variation = gr.Slider(label="Color variation", minimum=0.0, maximum=1.0, step=0.01, value=0.05)
        return [info, pixels, mask_blur, direction, noise_q, color_variation]

    def validate_args(self, args: tuple[Any, ...]) -> None:
        if len(args) > 3 and any(side not in DIRECTIONS for side in args[3] or ()):
            raise InvalidParams(f"Outpainting mk2: directions must be among {', '.join(DIRECTIONS)}")

    def run(
        self,
        p: Any,
        _info: Any = None,
        pixels: int = 128,
        mask_blur: int = 8,
        direction: Any = DIRECTIONS,
        noise_q: float = 1.0,
        color_variation: float = 0.05,
        *_: Any,
    ) -> Any:
        self.validate_args((_info, pixels, mask_blur, direction))
        init = p.params.init_images[0].convert("RGB")
        _, _, left, right, up, down = expansion(init.width, init.height, int(pixels), list(direction or ()))
        blur_x = int(mask_blur) if left or right else 0
        blur_y = int(mask_blur) if up or down else 0
        run = _Expander(self, p, blur_x, blur_y, float(noise_q), float(color_variation))
        results: list[Any] = []
        for batch in range(p.n_iter):
            if p.job is not None:
                p.job.update(textinfo=f"Batch {batch + 1} out of {p.n_iter}")
            images = [init] * max(1, p.batch_size)
            for side, amount in (("left", left), ("right", right), ("up", up), ("down", down)):
                if amount > 0 and not (p.job is not None and p.job.interrupted):
                    images = run.expand(images, amount, side)
            results += images
        if not run.cells:
            raise InvalidParams("Outpainting mk2: choose at least one direction to expand")
        return _finish(self, p, run.cells, results)


class _Expander:
    """One side's expansion of every image of a batch, as one img2img run."""

    def __init__(self, script: Any, p: Any, blur_x: int, blur_y: int, noise_q: float, color_variation: float):
        self.script, self.p = script, p
        self.blur_x, self.blur_y = blur_x, blur_y
        self.noise_q, self.color_variation = noise_q, color_variation
        self.cells: list[Any] = []

    def expand(self, images: list[Any], amount: int, side: str) -> list[Any]:
        from PIL import Image, ImageDraw

        p = self.p
        horizontal = side in ("left", "right")
        grow_w, grow_h = (amount, 0) if horizontal else (0, amount)
        canvases, crops, masks = [], [], []
        for image in images:
            res_w, res_h = image.width + grow_w, image.height + grow_h
            canvas = Image.new("RGB", (_ceil64(res_w), _ceil64(res_h)))
            canvas.paste(image, (grow_w if side == "left" else 0, grow_h if side == "up" else 0))
            mask = Image.new("RGB", canvas.size, "white")
            ImageDraw.Draw(mask).rectangle(self._keep_box(side, amount, canvas.size, (res_w, res_h), 1), fill="black")
            noised = matched_noise(
                np.asarray(canvas, dtype=np.float64) / 255.0,
                np.asarray(mask, dtype=np.float64) / 255.0,
                self.noise_q,
                self.color_variation,
            )
            canvas = Image.fromarray((noised * 255.0).astype(np.uint8), "RGB")
            target_w = min(p.width, res_w) if horizontal else canvas.width
            target_h = min(p.height, res_h) if not horizontal else canvas.height
            left = 0 if side == "left" else canvas.width - target_w
            top = 0 if side == "up" else canvas.height - target_h
            box = (left, top, left + target_w, top + target_h)
            canvases.append((canvas, res_w, res_h))
            crops.append(canvas.crop(box))
            masks.append(mask.crop(box))
        cell = self.script.process_images(
            self.p,
            init_images=tuple(crops),
            mask=masks[0].convert("L"),
            width=crops[0].width // 8 * 8,
            height=crops[0].height // 8 * 8,
            mask_blur=max(self.blur_x, self.blur_y) * 4,
            mask_blur_x=self.blur_x * 4,
            mask_blur_y=self.blur_y * 4,
            inpainting_fill=1,
            inpaint_full_res=False,
            batch_size=len(crops),
            n_iter=1,
            do_not_save_samples=True,
            do_not_save_grid=True,
        )
        self.cells.append(cell)
        done = cell.images[cell.index_of_first_image :]
        grown = []
        # strict=False: an interrupted job returns fewer images than canvases
        for (canvas, res_w, res_h), result in zip(canvases, done, strict=False):
            at = (
                0 if side == "left" else canvas.width - result.width,
                0 if side == "up" else canvas.height - result.height,
            )
            canvas.paste(result, at)
            grown.append(canvas.crop((0, 0, res_w, res_h)))
        return grown

    def _keep_box(self, side: str, amount: int, size: tuple[int, int], res: tuple[int, int], factor: int) -> tuple:
        """The rectangle of the old picture (black in the mask), shrunk by the blur towards the new side."""
        bx, by = self.blur_x * factor, self.blur_y * factor
        return (
            amount + bx if side == "left" else 0,
            amount + by if side == "up" else 0,
            size[0] - amount - bx if side == "right" else res[0],
            size[1] - amount - by if side == "down" else res[1],
        )


def _finish(script: Any, p: Any, cells: list[Any], results: list[Any]) -> Any:
    from modules.images.grid import image_grid

    first_text = next((c.infotexts[0] for c in cells if c.infotexts), "")
    grids: list[Any] = []
    wanted = len(results) >= 2 or not p.settings.get("grid_only_if_multiple")
    if wanted:
        grid = image_grid(results)
        _results.save_grid(p, grid, first_text, "grid", script.extension.paths.data)
        if p.settings.get("return_grid"):
            grids = [grid]
    merged = _results.merge(p, cells, grids + results, [first_text] * (len(grids) + len(results)), False)
    merged.index_of_first_image = len(grids)
    if not p.params.do_not_save_samples:
        for image in results:
            path = _results.save_sample(p, image, first_text, script.extension.paths.data)
            if path:
                merged.saved_paths.append(path)
    return merged
