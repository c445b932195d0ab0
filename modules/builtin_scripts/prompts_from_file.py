"""Prompts from file or textbox: one generation per line; a line may set other parameters A1111-style.

A plain line is a prompt. A line with ``--name value`` pairs (shell quoting) sets those parameters, e.g.
``--prompt "a cat" --negative_prompt "blurry" --steps 10 --seed 5 --sampler_name "Euler a"``. Script
arguments: checkbox_iterate (seed + 1 per image for each line), checkbox_iterate_batch (one random seed for
all lines), prompt_position ("start"/"end": where a line's prompt goes relative to the main prompt),
prompt_txt (the lines).
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from typing import Any

from modules import scripts
from modules.builtin_scripts import _results
from modules.builtin_scripts._plan import check_plan, plan_limit
from modules.processing.params import InvalidParams

log = logging.getLogger(__name__)


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


# A1111's prompt_tags: option name -> (GenerationParams field, converter); sd_model goes to override_settings.
TAGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "prompt": ("prompt", str),
    "negative_prompt": ("negative_prompt", str),
    "styles": ("styles", lambda text: tuple(s.strip() for s in text.split(",") if s.strip())),
    "seed": ("seed", int),
    "subseed": ("subseed", int),
    "subseed_strength": ("subseed_strength", float),
    "seed_resize_from_h": ("seed_resize_from_h", int),
    "seed_resize_from_w": ("seed_resize_from_w", int),
    "sampler_index": ("sampler_name", str),
    "sampler_name": ("sampler_name", str),
    "scheduler": ("scheduler", str),
    "batch_size": ("batch_size", int),
    "n_iter": ("n_iter", int),
    "steps": ("steps", int),
    "cfg_scale": ("cfg_scale", float),
    "width": ("width", int),
    "height": ("height", int),
    "tiling": ("tiling", _bool),
    "do_not_save_samples": ("do_not_save_samples", _bool),
    "do_not_save_grid": ("do_not_save_grid", _bool),
    "denoising_strength": ("denoising_strength", float),
}
IGNORED = {"restore_faces", "outpath_samples", "outpath_grids", "prompt_for_display"}


def parse_line(line: str) -> dict[str, Any]:
    """One line -> GenerationParams changes; ValueError naming the option for anything it cannot use.

    >>> parse_line('--prompt "a cat" --steps 10 --sd_model tiny')
    {'prompt': 'a cat', 'steps': 10, 'override_settings': {'sd_model_checkpoint': 'tiny'}}
    >>> parse_line("just a prompt")
    {'prompt': 'just a prompt'}
    """
    if not line.lstrip().startswith("--"):
        return {"prompt": line.strip()}
    words = shlex.split(line)
    changes: dict[str, Any] = {}
    index = 0
    while index < len(words):
        word = words[index]
        if not word.startswith("--"):
            raise ValueError(f"expected an option starting with --, got {word!r}")
        name = word[2:]
        if index + 1 >= len(words):
            raise ValueError(f"missing value for --{name}")
        value = words[index + 1]
        index += 2
        if name == "sd_model":
            changes.setdefault("override_settings", {})["sd_model_checkpoint"] = value
        elif name in TAGS:
            field, convert = TAGS[name]
            try:
                changes[field] = convert(value)
            except ValueError as error:
                raise ValueError(f"--{name}: {error}") from error
        elif name not in IGNORED:
            raise ValueError(f"unknown option --{name}; known: {', '.join(sorted([*TAGS, 'sd_model']))}")
    return changes


class PromptsFromFile(scripts.Script):
    def title(self) -> str:
        return "Prompts from file or textbox"

    def ui(self, is_img2img: bool) -> list[Any]:
        import gradio as gr

        iterate = gr.Checkbox(label="Iterate seed every line", value=False, elem_id=self.elem_id("checkbox_iterate"))
        iterate_batch = gr.Checkbox(
            label="Use same random seed for all lines", value=False, elem_id=self.elem_id("checkbox_iterate_batch")
        )
        position = gr.Radio(
            ["start", "end"], label="Insert prompts at the", value="start", elem_id=self.elem_id("prompt_position")
        )
        text = gr.Textbox(label="List of prompt inputs", lines=2, elem_id=self.elem_id("prompt_txt"))
        upload = gr.File(label="Upload prompt inputs", type="binary", elem_id=self.elem_id("file"))
        upload.change(
            lambda data: (data or b"").decode("utf-8", errors="replace") if data else gr.update(),
            upload,
            text,
            show_progress="hidden",
        )
        return [iterate, iterate_batch, position, text]

    def run(
        self,
        p: Any,
        checkbox_iterate: bool = False,
        checkbox_iterate_batch: bool = False,
        prompt_position: str = "start",
        prompt_txt: str = "",
        *_: Any,
    ) -> Any:
        lines = [line for line in (prompt_txt or "").splitlines() if line.strip()]
        jobs = []
        for number, line in enumerate(lines, start=1):
            try:
                jobs.append(parse_line(line))
            except ValueError as error:
                raise InvalidParams(f"Prompts from file, line {number}: {error}") from error
        if not jobs:
            raise InvalidParams("Prompts from file or textbox: no prompts given")
        planned = sum(
            max(1, int(changes.get("batch_size", p.batch_size))) * max(1, int(changes.get("n_iter", p.n_iter)))
            for changes in jobs
        )
        check_plan("Prompts from file", planned, plan_limit(p), f"{len(jobs)} lines")
        random_seed = p.params.seed == -1 and not checkbox_iterate_batch and not checkbox_iterate
        seed = p.seed
        cells = []
        for changes in jobs:
            if p.job is not None and p.job.interrupted:
                break
            for field, main in (("prompt", p.prompt), ("negative_prompt", p.negative_prompt)):
                if changes.get(field) and main:
                    line_text = changes[field]
                    changes[field] = f"{line_text} {main}" if prompt_position == "start" else f"{main} {line_text}"
            changes.setdefault("seed", -1 if random_seed else seed)
            processed = self.process_images(p, **changes)
            cells.append(processed)
            if checkbox_iterate:
                seed += changes.get("batch_size", p.batch_size) * changes.get("n_iter", p.n_iter)
        return _results.merge(p, cells)
