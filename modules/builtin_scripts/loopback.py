"""Loopback (img2img): feed each result back as the next init image, the denoising strength moving from the
slider's value to "Final denoising strength" along the chosen curve.

Script arguments (A1111 order): loops, final_denoising_strength, denoising_curve ("Aggressive" / "Linear" /
"Lazy"), append_interrogation ("None" / "CLIP" / "DeepBooru": each loop's prompt is the original prompt plus a
description of that loop's init image, from the same interrogators as the img2img Interrogate buttons).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from modules import scripts
from modules.builtin_scripts import _results
from modules.extensions.runner import inheriting
from modules.processing.params import InvalidParams

log = logging.getLogger(__name__)

CURVES = ("Aggressive", "Linear", "Lazy")
INTERROGATORS = {"None": None, "CLIP": "clip", "DeepBooru": "deepdanbooru"}


def loop_strength(loop: int, loops: int, initial: float, final: float, curve: str) -> float:
    """The denoising strength of run ``loop`` (0-based) of ``loops``, as A1111's loopback computes it.

    >>> [round(loop_strength(i, 3, 0.2, 0.6, "Linear"), 3) for i in range(3)]
    [0.2, 0.4, 0.6]
    """
    if loops <= 1:
        return initial
    progress = loop / (loops - 1)
    if curve == "Aggressive":
        shaped = math.sin(progress * math.pi * 0.5)
    elif curve == "Lazy":
        shaped = 1 - math.cos(progress * math.pi * 0.5)
    else:
        shaped = progress
    return initial + (final - initial) * shaped


class Loopback(scripts.Script):
    def title(self) -> str:
        return "Loopback"

    def show(self, is_img2img: bool) -> bool:
        return is_img2img

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        loops = gr.Slider(minimum=1, maximum=32, step=1, label="Loops", value=4, elem_id=self.elem_id("loops"))
        final = gr.Slider(
            minimum=0,
            maximum=1,
            step=0.01,
            label="Final denoising strength",
            value=0.5,
            elem_id=self.elem_id("final_denoising_strength"),
        )
        curve = gr.Dropdown(label="Denoising strength curve", choices=list(CURVES), value="Linear")
        interrogation = gr.Dropdown(
            label="Append interrogated prompt at each iteration", choices=list(INTERROGATORS), value="None"
        )
        return [loops, final, curve, interrogation]

    def validate_args(self, args: tuple[Any, ...]) -> None:
        if len(args) > 2 and args[2] not in CURVES:
            raise InvalidParams(f"Loopback: denoising curve must be one of {', '.join(CURVES)}, got {args[2]!r}")
        if len(args) > 3 and args[3] is not None and args[3] not in INTERROGATORS:
            raise InvalidParams(
                f"Loopback: append interrogated prompt must be one of {', '.join(INTERROGATORS)}, got {args[3]!r}"
            )

    def run(
        self,
        p: Any,
        loops: int = 4,
        final_denoising_strength: float = 0.5,
        denoising_curve: str = "Linear",
        append_interrogation: str = "None",
        *_: Any,
    ) -> Any:
        from modules.images.grid import image_grid
        from modules.interrogate import check, interrogate

        self.validate_args((loops, final_denoising_strength, denoising_curve, append_interrogation))
        interrogator = INTERROGATORS.get(append_interrogation or "None")
        backend = self.extension.backend_for_processing
        if interrogator is not None:
            check(backend, interrogator)  # a missing model file is named before the first loop
        loops = max(1, int(loops))
        params = p.params
        initial = params.denoising_strength if params.denoising_strength is not None else 0.75
        extras = {"Final denoising strength": final_denoising_strength, "Denoising curve": denoising_curve}
        history, cells = [], []
        seed = p.seed
        for batch in range(p.n_iter):
            image, fill, strength = params.init_images[0], params.inpainting_fill, initial
            last = None
            for loop in range(loops):
                if p.job is not None and p.job.interrupted:
                    break
                if p.job is not None:
                    p.job.update(textinfo=f"Iteration {loop + 1}/{loops}, batch {batch + 1}/{p.n_iter}")
                changes = {}
                if interrogator is not None:
                    described = interrogate(backend, image, interrogator)
                    changes["prompt"] = f"{p.prompt}, {described}" if p.prompt else described
                with inheriting(extras):
                    cell = self.process_images(
                        p,
                        **changes,
                        init_images=(image,),
                        seed=seed,
                        denoising_strength=strength,
                        inpainting_fill=fill,
                        batch_size=1,
                        n_iter=1,
                        do_not_save_grid=True,
                    )
                cells.append(cell)
                seed = cell.seed + 1
                strength = loop_strength(loop + 1, loops, initial, float(final_denoising_strength), denoising_curve)
                last = image = cell.images[cell.index_of_first_image]
                fill = 1  # "original" from the second loop on, as A1111
                if p.n_iter == 1:
                    history.append(last)
            if p.n_iter > 1 and last is not None:
                history.append(last)
        grids, grid_texts = [], []
        first_text = next((c.infotexts[0] for c in cells if c.infotexts), "")
        if len(history) > 1:
            grid = image_grid(history, rows=1)
            _results.save_grid(p, grid, first_text, "grid", self.extension.paths.data)
            if p.settings.get("return_grid"):
                grids, grid_texts = [grid], [first_text]
        merged = _results.merge(p, cells, grids + history, grid_texts + [first_text] * len(history), False)
        merged.index_of_first_image = len(grids)
        return merged
