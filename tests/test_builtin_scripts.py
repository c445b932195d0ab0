"""The program's selectable scripts: X/Y/Z plot, Prompt matrix, Prompts from file or textbox."""

from __future__ import annotations

import pytest

from modules.builtin_scripts._xyz_axes import (
    AxisError,
    find_axis,
    parse_values,
    split_values,
)
from modules.builtin_scripts.prompt_matrix import matrix_prompts
from modules.builtin_scripts.prompts_from_file import parse_line
from modules.extensions.manager import install_extensions
from modules.processing.params import GenerationParams, InvalidParams
from tests.checkpoint_factory import write_checkpoint
from tests.helpers import make_backend

SMALL = {
    "width": 64,
    "height": 64,
    "steps": 2,
    "cfg_scale": 5.0,
    "seed": 4,
    "prompt": "a cat",
    "negative_prompt": "dog",
}


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    data = tmp_path_factory.mktemp("scripts")
    write_checkpoint("sd15_tiny", data / "models" / "Stable-diffusion" / "tiny.safetensors")
    backend = make_backend(data)
    install_extensions(backend)
    return backend


def run(backend, name, args, **fields):
    return backend.generation.run(GenerationParams(**{**SMALL, **fields}, script_name=name, script_args=tuple(args)))


def test_axis_values():
    steps = find_axis("Steps", False)
    assert parse_values(steps, "1-3, 10-20 (+5), 2-8 [4]") == [1, 2, 3, 10, 15, 20, 2, 4, 6, 8]
    assert parse_values(find_axis("CFG Scale", False), "5-6 (+0.5)") == [5.0, 5.5, 6.0]
    assert split_values('a, "b, c" , d') == ["a", "b, c", "d"]
    assert parse_values(find_axis("sampler", False), "euler a, dpm++ 2m", backend=object()) == ["Euler a", "DPM++ 2M"]
    assert find_axis(4, False).label == "Steps"  # A1111's API sends indices
    for axis, text in (("Steps", "ten"), ("Sampler", "Nope")):
        with pytest.raises(AxisError):
            parse_values(find_axis(axis, False), text, backend=object())
    assert "Hires steps" not in [find_axis(i, True).label for i in range(12)]


def test_xyz_plot_makes_a_labelled_grid_of_every_combination(backend):
    result = run(backend, "X/Y/Z plot", ["Steps", "1, 2", "CFG Scale", "3, 7, 9", "Nothing", "", True, True])
    grid = result.images[0]
    assert grid.width > 2 * 64 and grid.height > 3 * 64  # 2 x 3 cells plus legend margins
    cells = result.images[1:]
    assert len(cells) == 6 and result.index_of_first_image == 1
    texts = result.infotexts[1:]
    assert [("Steps: 1" in t, "CFG scale: 3" in t) for t in texts[:2]] == [(True, True), (False, True)]
    assert "CFG scale: 9" in texts[5] and "Steps: 2" in texts[5]
    assert len(set(result.all_seeds)) == 1  # one fixed seed for every cell
    grids = list((backend.paths.data / "outputs" / "txt2img-grids").rglob("xyz_grid-*.png"))
    assert grids


def test_xyz_plot_prompt_sr_checkpoint_and_z_axis(backend):
    title = backend.models.current.checkpoint.title
    result = run(
        backend,
        "x/y/z plot",
        ["Prompt S/R", "cat, fox", "Nothing", "", "Checkpoint name", title, True, True],
        do_not_save_grid=True,
    )
    assert result.all_prompts == ["a cat", "a fox"]
    z = run(
        backend,
        "X/Y/Z plot",
        ["Seed", "1, 2", "Nothing", "", "Sampler", "Euler, DDIM", False, False, True],
        do_not_save_grid=True,
    )
    assert len(z.images) == 3  # the Z grid and one sub grid per Z value
    assert z.images[1].size == z.images[2].size == (128, 64)
    with pytest.raises(InvalidParams, match="X/Y/Z plot: Sampler"):
        run(backend, "X/Y/Z plot", ["Sampler", "Nope"])


def test_prompt_matrix(backend):
    assert matrix_prompts("a | b | c", put_at_start=True, delimiter="space")[1] == ["a", "b a", "c a", "b c a"]
    result = run(backend, "Prompt matrix", [False, False, "positive", "comma", 0], prompt="a cat|red|big")
    assert result.all_prompts == ["a cat", "a cat, red", "a cat, big", "a cat, red, big"]
    assert result.images[0].width > 128 and result.images[0].height > 128  # 2 x 2 grid with labels
    assert len(result.images) == 5


def test_prompts_from_file(backend):
    assert parse_line('--prompt "x y" --steps 3 --cfg_scale 2.5 --tiling true') == {
        "prompt": "x y",
        "steps": 3,
        "cfg_scale": 2.5,
        "tiling": True,
    }
    with pytest.raises(ValueError, match="--bogus"):
        parse_line("--bogus 1")
    lines = 'red\n--prompt "blue" --steps 1 --negative_prompt cats\n\n'
    result = run(backend, "Prompts from file or textbox", [True, False, "start", lines])
    assert result.all_prompts == ["red a cat", "blue a cat"]
    assert result.all_negative_prompts == ["dog", "cats dog"]
    assert result.all_seeds == [4, 5] and "Steps: 1" in result.infotexts[1]
    with pytest.raises(InvalidParams, match="line 1"):
        run(backend, "Prompts from file or textbox", [False, False, "start", "--steps many"])
