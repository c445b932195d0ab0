"""Prompt matrix: ``base | a | b`` renders every combination of the optional parts, in a labelled grid.

Script arguments: put_at_start, different_seeds, prompt_type ("positive"/"negative"), variations_delimiter
("comma"/"space"), margin_size.
"""

from __future__ import annotations

import logging
from typing import Any

from modules import scripts
from modules.builtin_scripts import _results
from modules.builtin_scripts._plan import check_plan, plan_limit

log = logging.getLogger(__name__)


def matrix_prompts(prompt: str, put_at_start: bool = False, delimiter: str = "comma") -> tuple[list[str], list[str]]:
    """(parts, prompts): ``"a | b | c"`` -> the 4 prompts A1111 makes, bit n of the index selecting part n+1.

    >>> matrix_prompts("a cat | red | big")[1]
    ['a cat', 'a cat, red', 'a cat, big', 'a cat, red, big']
    """
    parts = [part.strip() for part in prompt.split("|")]
    joiner = ", " if delimiter == "comma" else " "
    optional = parts[1:]
    prompts = []
    for index in range(1 << len(optional)):
        selected = [text for n, text in enumerate(optional) if index & (1 << n)]
        pieces = selected + [parts[0]] if put_at_start else [parts[0]] + selected
        prompts.append(joiner.join(piece for piece in pieces if piece))
    return parts, prompts


class PromptMatrix(scripts.Script):
    def title(self) -> str:
        return "Prompt matrix"

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        with gr.Row():
            put_at_start = gr.Checkbox(
                label="Put variable parts at start of prompt", value=False, elem_id=self.elem_id("put_at_start")
            )
            different_seeds = gr.Checkbox(
                label="Use different seed for each picture", value=False, elem_id=self.elem_id("different_seeds")
            )
        with gr.Row():
            prompt_type = gr.Radio(
                ["positive", "negative"], label="Select prompt", value="positive", elem_id=self.elem_id("prompt_type")
            )
            delimiter = gr.Radio(
                ["comma", "space"],
                label="Select joining char",
                value="comma",
                elem_id=self.elem_id("variations_delimiter"),
            )
        margin = gr.Slider(
            label="Grid margins (px)", minimum=0, maximum=500, value=0, step=2, elem_id=self.elem_id("margin_size")
        )
        return [put_at_start, different_seeds, prompt_type, delimiter, margin]

    def run(
        self,
        p: Any,
        put_at_start: bool = False,
        different_seeds: bool = False,
        prompt_type: str = "positive",
        variations_delimiter: str = "comma",
        margin_size: int = 0,
        *_: Any,
    ) -> Any:
        from modules.images.grid import draw_prompt_matrix, image_grid

        source = p.prompt if prompt_type != "negative" else p.negative_prompt
        variable = source.count("|")
        check_plan("Prompt matrix", 1 << min(variable, 64), plan_limit(p), f"{variable} variable parts")
        parts, prompts = matrix_prompts(source, bool(put_at_start), variations_delimiter)
        field = "prompt" if prompt_type != "negative" else "negative_prompt"
        log.info("Prompt matrix will create %d images", len(prompts))
        cells = []
        for index, text in enumerate(prompts):
            if p.job is not None and p.job.interrupted:
                cells.append(None)
                continue
            seed = p.seed + index if different_seeds else p.seed
            cells.append(
                self.process_images(
                    p, **{field: text, "seed": seed, "batch_size": 1, "n_iter": 1, "do_not_save_grid": True}
                )
            )
        size = next((c.images[0].size for c in cells if c is not None and c.images), (p.width, p.height))
        images = [_results.first_image(c, size) for c in cells]
        grid = image_grid(images, rows=1 << ((len(parts) - 1) // 2))
        grid = draw_prompt_matrix(grid, size[0], size[1], parts, int(margin_size))
        first_text = next((c.infotexts[0] for c in cells if c is not None and c.infotexts), "")
        saved = _results.save_grid(p, grid, first_text, "prompt_matrix", self.extension.paths.data)
        result = _results.merge(p, cells, [grid], [first_text])
        if saved:
            result.saved_paths.append(saved)
        return result
