"""Image saving: file layout and names, metadata written and read back, grids, option declarations."""

import datetime
import doctest

import pytest
from PIL import Image

from modules.images import filenames, grid
from modules.images.filenames import FilenameGenerator, next_sequence_number, sanitize_filename_part
from modules.images.grid import GridAnnotation, draw_grid_annotations, draw_prompt_matrix, image_grid
from modules.images.metadata import read_infotext, write_image
from modules.images.options import DEFAULTS, OPTIONS
from modules.images.save import save_image
from modules.settings.registry import OptionRegistry, Settings

INFOTEXT = (
    'a "cat", 日本語 ✓\nNegative prompt: ugly\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 64x64'
)
NOW = datetime.datetime(2024, 5, 6, 7, 8, 9)


def picture(color=(200, 30, 30), size=(64, 64), mode="RGB"):
    return Image.new(mode, size, color)


def test_docstring_examples():
    assert doctest.testmod(filenames).failed == 0
    assert doctest.testmod(grid).failed == 0


# --- metadata -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extension", ["png", "jpg", "webp", "avif", "gif"])
def test_infotext_round_trip(tmp_path, extension):
    path = tmp_path / f"x.{extension}"
    image = picture(mode="RGBA" if extension != "gif" else "RGB")
    write_image(image, path, INFOTEXT)
    with Image.open(path) as loaded:
        text, _ = read_infotext(loaded)
    assert text == INFOTEXT


def test_png_keeps_other_text_chunks_and_latin1_uses_text(tmp_path):
    path = tmp_path / "x.png"
    write_image(picture(), path, "plain latin text", extra_text={"Software": "ours", "note": "ü"})
    with Image.open(path) as loaded:
        text, items = read_infotext(loaded)
        assert text == "plain latin text"
        assert items["Software"] == "ours" and items["note"] == "ü"


def test_metadata_can_be_disabled(tmp_path):
    for extension in ("png", "jpg"):
        path = tmp_path / f"x.{extension}"
        write_image(picture(), path, INFOTEXT, enable_pnginfo=False)
        with Image.open(path) as loaded:
            assert read_infotext(loaded)[0] is None


def test_reads_novelai_png():
    image = picture()
    image.info.update(
        {"Software": "NovelAI", "Description": "a fox",
         "Comment": '{"uc": "bad", "steps": 28, "sampler": "k_euler_ancestral", "scale": 11, "seed": 5}'}
    )  # fmt: skip
    text, _ = read_infotext(image)
    assert text == (
        "a fox\nNegative prompt: bad\nSteps: 28, Sampler: Euler a, CFG scale: 11, Seed: 5, Size: 64x64, "
        "Clip skip: 2, ENSD: 31337"
    )


def test_garbage_exif_is_ignored():
    image = picture()
    image.info["exif"] = b"Exif\x00\x00garbage"
    assert read_infotext(image)[0] is None


# --- file names -----------------------------------------------------------------------------------------


def test_sanitize():
    assert sanitize_filename_part("a/b\\c:d*e?f") == "a_b_c_d_e_f"
    assert sanitize_filename_part("x" * 300) == "x" * 128
    assert sanitize_filename_part(None) is None


def test_filename_tags():
    values = {
        "seed": 5, "seeds": [5, 6, 7], "batch_size": 3, "batch_index": 1, "n_iter": 2, "iteration": 1,
        "prompt": "A (red) fox, in snow", "negative_prompt": "ugly", "steps": 20, "cfg_scale": 7.5,
        "sampler": "DPM++ 2M", "scheduler": "Karras", "styles": ["s1", "None"], "model_hash": "abc123",
        "model_name": "my model", "vae_filename": "/v/.hidden.vae.pt", "clip_skip": 2, "denoising_strength": 0.4,
        "style_prompts": ["{prompt}, in snow"], "job_timestamp": "20240101000000",
    }  # fmt: skip
    names = FilenameGenerator(values, picture(size=(64, 32)), NOW, max_prompt_words=2)
    assert names.apply("[seed]_[seed_first]_[seed_last]") == "5_5_7"
    assert names.apply("[steps]-[cfg]-[width]x[height]") == "20-7.5-64x32"
    assert names.apply("[sampler]|[scheduler]|[sampler_scheduler]") == "DPM++ 2M|Karras|DPM++ 2M Karras"
    assert names.apply("[styles] [model_hash] [model_name] [vae_filename]") == "s1 abc123 my model hidden"
    assert (
        names.apply("[date] [datetime] [datetime<%Y>] [job_timestamp]")
        == "2024-05-06 20240506070809 2024 20240101000000"
    )
    assert names.apply("[prompt]") == "A_(red)_fox,_in_snow"
    assert names.apply("[prompt_spaces]") == "A (red) fox, in snow"
    assert names.apply("[prompt_words]") == "A red"
    assert names.apply("[prompt_no_styles]") == "A (red) fox"
    assert len(names.apply("[prompt_hash]")) == 8 and len(names.apply("[prompt_hash<4>]")) == 4
    assert names.apply("[batch_number]-[generation_number]-[batch_size]") == "2-5-3"
    assert names.apply("[clip_skip]-[denoising]-[none]-[image_hash<6>]").startswith("2-0.4--")
    assert names.apply("[hasprompt<fox><cat|nocat>]") == "foxnocat"
    assert names.apply("[SEED]-[nope]-[") == "5-[nope]-["


def test_tags_that_vanish_with_their_separator():
    names = FilenameGenerator({"seed": 1, "batch_size": 1, "n_iter": 1}, now=NOW)
    assert names.apply("[seed]-[seed_last]-[batch_number]-[generation_number]-[denoising]") == "1"
    assert FilenameGenerator({"prompt": "!!!"}).apply("[prompt_words]") == "empty"


def test_datetime_time_zone_and_bad_format():
    aware = datetime.datetime(2024, 5, 6, 12, 0, tzinfo=datetime.timezone.utc)
    names = FilenameGenerator({}, now=aware)
    assert names.apply("[datetime<%H><Asia/Tokyo>]") == "21"
    assert names.apply("[datetime<%H><Not/AZone>]") == "12"


def test_next_sequence_number(tmp_path):
    assert next_sequence_number(tmp_path / "missing") == 0
    for name in ("00000-1.png", "00007-2.png", "junk.png", "grid-0003.png", "12x-5.png"):
        (tmp_path / name).write_bytes(b"")
    assert next_sequence_number(tmp_path) == 8
    assert next_sequence_number(tmp_path, "grid") == 4


# --- save_image -----------------------------------------------------------------------------------------


def test_default_layout_dated_folder_number_seed_prompt_words(tmp_path):
    info = {"seed": 1234, "prompt": "a cat, (sitting:1.2)"}
    first = save_image(picture(), tmp_path, info=info, infotext=INFOTEXT, now=NOW)
    second = save_image(picture(), tmp_path, info=info, infotext=INFOTEXT, now=NOW)
    assert first == tmp_path / "2024-05-06" / "00000-1234-a cat sitting 1 2.png"
    assert second.name == "00001-1234-a cat sitting 1 2.png"
    with Image.open(first) as loaded:
        assert read_infotext(loaded)[0] == INFOTEXT
    assert not list((tmp_path / "2024-05-06").glob("*.tmp")) and not list((tmp_path / "2024-05-06").glob(".*"))


def test_flat_layout_formats_and_txt(tmp_path):
    settings = {"save_to_dirs": False, "save_txt": True, "samples_format": "jpg"}
    path = save_image(picture(), tmp_path, info={"seed": 9, "prompt": "a: cat?"}, infotext=INFOTEXT, settings=settings)
    assert path == tmp_path / "00000-9-a_ cat_.jpg"
    assert path.with_suffix(".txt").read_text(encoding="utf-8") == INFOTEXT + "\n"
    with Image.open(path) as loaded:
        assert loaded.format == "JPEG" and read_infotext(loaded)[0] == INFOTEXT
    webp = save_image(
        picture(mode="RGBA"), tmp_path, info={"seed": 9}, infotext=INFOTEXT, fmt="webp", settings=settings
    )
    with Image.open(webp) as loaded:
        assert loaded.format == "WEBP" and read_infotext(loaded)[0] == INFOTEXT


def test_grid_short_name_pattern_and_forced_name(tmp_path):
    path = save_image(picture(), tmp_path, "grid", info={"seed": 1}, grid=True, short_filename=True, now=NOW)
    assert path == tmp_path / "2024-05-06" / "grid-0000.png"
    settings = {"save_to_dirs": False, "save_images_add_number": False}
    named = save_image(picture(), tmp_path, info={"seed": 3, "steps": 20}, pattern="s[seed]_[steps]", settings=settings)
    assert named == tmp_path / "s3_20.png"
    assert save_image(picture(), tmp_path, forced_filename="exact", settings=settings) == tmp_path / "exact.png"


def test_replace_action_and_long_names(tmp_path):
    settings = {
        "save_to_dirs": False,
        "save_images_add_number": False,
        "save_images_replace_action": "Add number suffix",
    }
    first = save_image(picture(), tmp_path, info={"seed": 1}, pattern="same", settings=settings)
    second = save_image(picture(), tmp_path, info={"seed": 1}, pattern="same", settings=settings)
    assert (first.name, second.name) == ("same.png", "same-1.png")
    long = save_image(picture(), tmp_path, info={"seed": 1, "prompt": "é" * 400}, settings={"save_to_dirs": False})
    assert len(long.name.encode()) <= 255 and long.exists()


def test_directory_pattern_cannot_escape(tmp_path):
    settings = {"directories_filename_pattern": "../../[seed]/x"}
    path = save_image(picture(), tmp_path / "out", info={"seed": 5}, settings=settings)
    assert path.parent == tmp_path / "out" / "5" / "x"


def test_reads_settings_object(tmp_path):
    settings = Settings(OptionRegistry(OPTIONS))
    settings.update({"samples_format": "webp", "save_to_dirs": False}, save=False)
    path = save_image(picture(), tmp_path, info={"seed": 2, "prompt": "x"}, settings=settings.overlay(None))
    assert path.name == "00000-2-x.webp"


# --- grids ----------------------------------------------------------------------------------------------


def test_image_grid_layout():
    tiles = [picture((i * 40, 0, 0), (8, 4)) for i in range(5)]
    result = image_grid(tiles)
    assert result.size == (24, 8)  # round(sqrt(5)) = 2 rows, 3 columns
    assert result.getpixel((8, 0)) == (40, 0, 0) and result.getpixel((16, 7)) == (0, 0, 0)
    assert image_grid(tiles, rows=1).size == (40, 4)
    assert image_grid(tiles, n_rows=0, batch_size=5).size == (8, 20)
    assert image_grid(tiles[:4], rows=9).size == (8, 16)
    with pytest.raises(ValueError):
        image_grid([])


def test_annotated_grid_adds_margins_for_labels():
    cells = image_grid([picture(size=(64, 64))] * 4, rows=2)
    hor = [[GridAnnotation("CFG: 5")], [GridAnnotation("CFG: 9 with a rather long label")]]
    ver = [[GridAnnotation("Euler")], [GridAnnotation("DDIM", is_active=False)]]
    labelled = draw_grid_annotations(cells, 64, 64, hor, ver, margin=4)
    assert labelled.width == 128 + 48 + 4 and labelled.height > 128 + 4
    assert labelled.getpixel((0, 0)) == (255, 255, 255)
    assert labelled.getpixel((labelled.width - 1, labelled.height - 1)) == (200, 30, 30)
    no_labels = draw_grid_annotations(cells, 64, 64, [[], []], [[], []])
    assert no_labels.size == (128, 128)
    with pytest.raises(ValueError):
        draw_grid_annotations(cells, 64, 64, [[]], [[], []])
    matrix = draw_prompt_matrix(cells, 64, 64, ["base", "a", "b"])
    assert matrix.width > 128 and matrix.height > 128


# --- options --------------------------------------------------------------------------------------------


def test_options_declare_a1111_keys_with_our_rng_default():
    registry = OptionRegistry(OPTIONS)
    assert len(registry) == len(OPTIONS)
    assert DEFAULTS["randn_source"] == "CPU" and registry["randn_source"].infotext == "RNG"
    assert DEFAULTS["outdir_txt2img_samples"] == "outputs/txt2img-images" and DEFAULTS["outdir_save"] == "log/images"
    assert DEFAULTS["directories_filename_pattern"] == "[date]" and DEFAULTS["jpeg_quality"] == 80
    assert registry["samples_filename_pattern"].restrict_api
    assert registry["n_rows"].coerce("-1") == -1


def test_ready_made_tag_values_are_accepted():
    values = {
        "seed": 4,
        "seed_first": 1,
        "seed_last": 9,
        "batch_size": 3,
        "cfg": 6,
        "denoising": 0.3,
        "prompt": "a cat, style",
        "prompt_no_styles": "a cat",
        "batch_number": 2,
        "generation_number": 7,
    }
    names = FilenameGenerator(values)
    assert names.apply("[seed_first]-[seed_last]-[cfg]-[denoising]") == "1-9-6-0.3"
    assert names.apply("[prompt_no_styles]-[batch_number]-[generation_number]") == "a cat-2-7"


def test_rows_minus_one_means_auto():
    tiles = [picture(size=(4, 4))] * 4
    assert image_grid(tiles, rows=-1).size == (8, 8)
    assert image_grid(tiles, rows=0, batch_size=4).size == (4, 16)
