"""X/Y/Z plot: render a grid of images where up to three parameters vary, labelled like A1111's.

Script arguments (UI order, also the API's ``script_args``): x_type, x_values, y_type, y_values, z_type,
z_values, draw_legend, include_lone_images, include_sub_grids, no_fixed_seeds, margin_size. Axis types are
labels ("Steps") or indices into this tab's axis list, as A1111's API sends them.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from modules import scripts
from modules.builtin_scripts import _results
from modules.builtin_scripts._plan import check_plan, plan_limit
from modules.builtin_scripts._xyz_axes import (
    AxisError,
    axes_for,
    cell_changes,
    find_axis,
    parse_values,
)
from modules.processing.params import InvalidParams

log = logging.getLogger(__name__)


class XYZPlot(scripts.Script):
    def title(self) -> str:
        return "X/Y/Z plot"

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        labels = [axis.label for axis in axes_for(is_img2img)]
        inputs = []
        for name, default in (("X", "Seed"), ("Y", "Nothing"), ("Z", "Nothing")):
            with gr.Row():
                kind = gr.Dropdown(
                    label=f"{name} type", choices=labels, value=default, elem_id=self.elem_id(f"{name.lower()}_type")
                )
                values = gr.Textbox(label=f"{name} values", lines=1, elem_id=self.elem_id(f"{name.lower()}_values"))
            inputs += [kind, values]
        with gr.Row():
            draw_legend = gr.Checkbox(label="Draw legend", value=True, elem_id=self.elem_id("draw_legend"))
            lone = gr.Checkbox(label="Include Sub Images", value=False, elem_id=self.elem_id("include_lone_images"))
            sub_grids = gr.Checkbox(label="Include Sub Grids", value=False, elem_id=self.elem_id("include_sub_grids"))
            no_fixed = gr.Checkbox(label="Keep -1 for seeds", value=False, elem_id=self.elem_id("no_fixed_seeds"))
        margin = gr.Slider(
            label="Grid margins (px)", minimum=0, maximum=500, value=0, step=2, elem_id=self.elem_id("margin_size")
        )
        return inputs + [draw_legend, lone, sub_grids, no_fixed, margin]

    def run(
        self,
        p: Any,
        x_type: Any = "Seed",
        x_values: str = "",
        y_type: Any = "Nothing",
        y_values: str = "",
        z_type: Any = "Nothing",
        z_values: str = "",
        draw_legend: bool = True,
        include_lone_images: bool = False,
        include_sub_grids: bool = False,
        no_fixed_seeds: bool = False,
        margin_size: int = 0,
        *_: Any,
    ) -> Any:
        from modules.images.grid import (
            GridAnnotation,
            draw_grid_annotations,
            image_grid,
        )

        backend = self.extension.backend_for_processing
        limit = plan_limit(p)
        try:
            axes = [find_axis(kind, p.is_img2img) for kind in (x_type, y_type, z_type)]
            values = [
                parse_values(axis, text, backend, limit)
                for axis, text in zip(axes, (x_values, y_values, z_values), strict=True)
            ]
        except AxisError as error:
            raise InvalidParams(f"X/Y/Z plot: {error}") from error
        search = {axis: vals[0] for axis, vals in zip(axes, values, strict=True) if axis.label == "Prompt S/R"}
        xs, ys, zs = values
        total = len(xs) * len(ys) * len(zs)
        per_cell = max(1, int(p.batch_size)) * max(1, int(p.n_iter))
        check_plan(
            "X/Y/Z plot",
            total * per_cell,
            limit,
            f"{len(xs)} x {len(ys)} x {len(zs)} cells x {per_cell} image(s) per cell",
        )
        log.info("X/Y/Z plot: %d images (%d x %d x %d)", total, len(xs), len(ys), len(zs))
        cells: list[Any] = []
        for index, (z, y, x) in enumerate(itertools.product(zs, ys, xs)):
            if p.job is not None and p.job.interrupted:
                cells.append(None)
                continue
            changes = cell_changes([(axes[2], z), (axes[1], y), (axes[0], x)], p, search)
            if no_fixed_seeds:
                changes.setdefault("seed", -1)
            if p.job is not None:
                p.job.update(textinfo=f"X/Y/Z plot: image {index + 1} of {total}")
            cells.append(self.process_images(p, **changes))

        size = next((c.images[0].size for c in cells if c is not None and c.images), (p.width, p.height))
        per_z = len(xs) * len(ys)
        sub_grids = []
        for zi in range(len(zs)):
            images = [_results.first_image(c, size) for c in cells[zi * per_z : (zi + 1) * per_z]]
            grid = image_grid(images, rows=len(ys))
            if draw_legend:
                grid = draw_grid_annotations(
                    grid,
                    size[0],
                    size[1],
                    [[GridAnnotation(axes[0].format(x))] for x in xs],
                    [[GridAnnotation(axes[1].format(y))] for y in ys],
                    int(margin_size),
                )
            sub_grids.append(grid)
        if len(zs) > 1:
            width, height = sub_grids[0].size
            grid = image_grid([g.resize((width, height)) for g in sub_grids], rows=1)
            if draw_legend:
                grid = draw_grid_annotations(
                    grid,
                    width,
                    height,
                    [[GridAnnotation(axes[2].format(z))] for z in zs],
                    [[GridAnnotation()]],
                    int(margin_size),
                )
        else:
            grid = sub_grids[0]
        first_text = next((c.infotexts[0] for c in cells if c is not None and c.infotexts), "")
        saved = _results.save_grid(p, grid, first_text, "xyz_grid", self.extension.paths.data)
        leading = [grid] + (sub_grids if include_sub_grids and len(zs) > 1 else [])
        result = _results.merge(p, cells, leading, [first_text] * len(leading), include_cells=include_lone_images)
        if saved:
            result.saved_paths.append(saved)
        return result
