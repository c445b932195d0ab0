"""SD upscale (img2img): upscale the image, then img2img it tile by tile at the tile size of the Width/Height
sliders, and blend the tiles back together over their overlap.

Script arguments (A1111 order): info (unused), overlap, upscaler (index or name), scale_factor.
"""

from __future__ import annotations

import logging
from typing import Any

from modules import scripts
from modules.builtin_scripts import _results, _tiles
from modules.extensions.runner import inheriting
from modules.processing.params import InvalidParams

log = logging.getLogger(__name__)


def upscaler_name(names: list[str], choice: Any) -> str:
    """The upscaler an argument names: an index into ``names`` (the UI) or a name, any case (the API).

    >>> upscaler_name(["None", "Lanczos"], 1), upscaler_name(["None", "Lanczos"], "lanczos")
    ('Lanczos', 'Lanczos')
    """
    if isinstance(choice, str) and not choice.isdigit():
        for name in names:
            if name.lower() == choice.lower():
                return name
        raise InvalidParams(f"SD upscale: unknown upscaler {choice!r}; choose one of {', '.join(names)}")
    index = int(choice)
    if not 0 <= index < len(names):
        raise InvalidParams(f"SD upscale: upscaler index {index} out of range 0-{len(names) - 1}")
    return names[index]


class SDUpscale(scripts.Script):
    def title(self) -> str:
        return "SD upscale"

    def show(self, is_img2img: bool) -> bool:
        return is_img2img

    def _upscalers(self) -> Any:
        return self.extension.backend_for_processing.upscalers

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        info = gr.HTML(
            '<p style="margin-bottom:0.75em">Will upscale the image by the selected scale factor; use width and '
            "height sliders to set tile size</p>"
        )
        overlap = gr.Slider(
            minimum=0, maximum=256, step=16, label="Tile overlap", value=64, elem_id=self.elem_id("overlap")
        )
        scale_factor = gr.Slider(
            minimum=1.0, maximum=4.0, step=0.05, label="Scale Factor", value=2.0, elem_id=self.elem_id("scale_factor")
        )
        names = self._upscalers().names()
        upscaler = gr.Radio(
            label="Upscaler", choices=names, type="index", value=names[0], elem_id=self.elem_id("upscaler_index")
        )
        return [info, overlap, upscaler, scale_factor]

    def validate_args(self, args: tuple[Any, ...]) -> None:
        if len(args) > 2:
            upscaler_name(self._upscalers().names(), args[2])

    def run(self, p: Any, _info: Any = None, overlap: int = 64, upscaler: Any = 0, scale_factor: float = 2.0) -> Any:
        from modules.images.ops import flatten

        registry = self._upscalers()
        name = upscaler_name(registry.names(), upscaler)
        overlap = int(overlap)
        extras = {"SD upscale overlap": overlap, "SD upscale upscaler": name}
        image = flatten(p.params.init_images[0], str(p.settings.get("img2img_background_color", "#ffffff")))
        if name != "None":
            image = registry.upscale(image, name, float(scale_factor))
        grid = _tiles.split(image, p.width, p.height, overlap)
        tiles = grid.tiles()
        batch_size = max(1, p.batch_size)
        chunks = [tiles[i : i + batch_size] for i in range(0, len(tiles), batch_size)]
        log.info("SD upscaling %d tiles in %d batches, %d times", len(tiles), len(chunks), p.n_iter)
        results, cells = [], []
        for n in range(p.n_iter):
            seed = p.seed + n
            outputs: list[Any] = []
            for chunk in chunks:
                if p.job is not None and p.job.interrupted:
                    break
                with inheriting(extras):
                    cell = self.process_images(
                        p,
                        init_images=tuple(tile.image for tile in chunk),
                        seed=seed,
                        batch_size=len(chunk),
                        n_iter=1,
                        do_not_save_samples=True,
                        do_not_save_grid=True,
                    )
                cells.append(cell)
                seed = cell.seed + 1
                outputs += cell.images[cell.index_of_first_image :]
            for index, tile in enumerate(tiles):
                tile.image = outputs[index] if index < len(outputs) else _blank(p)
            results.append(_tiles.combine(grid))
        first_text = next((c.infotexts[0] for c in cells if c.infotexts), "")
        merged = _results.merge(p, cells, results, [first_text] * len(results), include_cells=False)
        merged.index_of_first_image = 0
        if not p.params.do_not_save_samples:
            for result in results:
                path = _results.save_sample(p, result, first_text, self.extension.paths.data)
                if path:
                    merged.saved_paths.append(path)
        return merged


def _blank(p: Any) -> Any:
    from PIL import Image

    return Image.new("RGB", (p.width, p.height))
