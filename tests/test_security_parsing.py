"""Bounded work for untrusted text: infotext parsing is linear and size-capped; settings files of any shape
load (bad values replaced by defaults, original kept); file-name patterns cannot leave the output folder."""

from __future__ import annotations

import json
import random
import re
import time

import pytest

from modules.processing.infotext import MAX_INFOTEXT_CHARS, InfotextTooLongError, parse_infotext, scan_params

# A1111's expression, kept here only as the reference the linear scanner must agree with.
A1111_PARAM = re.compile(r'\s*(?P<key>\w[\w \-/]+):\s*(?P<value>"(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def test_scanner_finds_what_a1111s_expression_finds():
    rng = random.Random(18)
    pieces = ["Steps", ":", " ", ",", '"', "a b", "\\", 'x: "1, 2"', "20", "Size: 5x5", "é", "-", "/", "\t"]
    for _ in range(20000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        expected = [(m.group("key"), m.group("value")) for m in A1111_PARAM.finditer(line)]
        assert scan_params(line) == expected, line


@pytest.mark.parametrize(
    "text",
    [
        "a " * 30000,  # the issue's reproducer: A1111's expression needs ~30 s for it
        'k: "x, ' * 9000,  # every value opens a quote that never closes
        "Steps: 1, " * 6000,  # many fields
        "ab-" * 21000 + ":",
        "(a" * 130000,  # every bracket left open: quadratic in A1111's emphasis parser
        "b:" * 130000,
    ],
)
def test_hostile_infotexts_parse_quickly(text):
    started = time.perf_counter()
    parse_infotext(text)
    assert time.perf_counter() - started < 1.0


def test_parse_time_grows_linearly():
    def cost(n: int) -> float:
        started = time.perf_counter()
        scan_params("a " * n)
        return time.perf_counter() - started

    small, large = min(cost(2000) for _ in range(3)), min(cost(32000) for _ in range(3))
    assert large < small * 16 * 4  # 16x the text; quadratic would be 256x


def test_overlong_infotext_is_refused_with_its_length():
    with pytest.raises(InfotextTooLongError, match=str(MAX_INFOTEXT_CHARS + 1)):
        parse_infotext("a" * (MAX_INFOTEXT_CHARS + 1))


def _settings(path):
    from modules.settings.options import build_registry
    from modules.settings.registry import Settings
    from modules.settings.store import JsonSettingsStore

    return Settings(build_registry(), JsonSettingsStore(path))


@pytest.mark.parametrize(
    ("stored", "key", "default"),
    [
        ({"samples_format": 5}, "samples_format", "png"),
        ({"jpeg_quality": "abc"}, "jpeg_quality", 80),
        ({"jpeg_quality": 1e400}, "jpeg_quality", 80),
        ({"CLIP_stop_at_last_layers": "x"}, "CLIP_stop_at_last_layers", 1),
        ({"disabled_extensions": 7}, "disabled_extensions", []),
        ({"samples_save": {"a": 1}}, "samples_save", True),
        ({"save_images_replace_action": "Explode"}, "save_images_replace_action", "Replace"),
    ],
)
def test_bad_stored_values_are_replaced_by_defaults_and_the_file_kept(tmp_path, stored, key, default):
    config = tmp_path / "config.json"
    original = json.dumps({**stored, "jpeg_quality_ok": 1, "grid_format": "jpg"})
    config.write_text(original, encoding="utf-8")
    settings = _settings(config)
    assert settings.get(key) == default
    assert settings.get("grid_format") == "jpg"  # good values stay
    assert key in settings.load_warning and "defaults" in settings.load_warning
    backups = list(tmp_path.glob("config.json.bak-*"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == original
    assert key not in json.loads(config.read_text(encoding="utf-8"))  # the cleaned file was written back


def test_deeply_nested_or_huge_config_files_are_set_aside(tmp_path):
    config = tmp_path / "config.json"
    config.write_text("[" * 100000 + "]" * 100000, encoding="utf-8")
    settings = _settings(config)
    assert "nested too deeply" in settings.load_warning and settings.get("samples_format") == "png"
    assert not config.exists() and list(tmp_path.glob("config.json.bak-*"))


def test_preload_reads_disabled_extensions_of_any_shape(tmp_path):
    from modules.extensions.preload import disabled_names

    config = tmp_path / "config.json"
    for text in ('{"disabled_extensions": 7}', "[" * 100000, '{"disabled_extensions": [1, "a"]}', "3"):
        config.write_text(text, encoding="utf-8")
        names, disable_all = disabled_names(config)
        assert names <= {"a"} and disable_all == "none"


def test_writes_are_validated_like_loads(tmp_path):
    settings = _settings(tmp_path / "config.json")
    for key, value in [
        ("jpeg_quality", float("nan")),
        ("jpeg_quality", "abc"),
        ("samples_format", "exe"),
        ("disabled_extensions", 7),
        ("jpeg_quality", 1000),
    ]:
        with pytest.raises(ValueError, match=key):
            settings.set(key, value)
    assert settings.get("jpeg_quality") == 80


@pytest.mark.parametrize(
    "pattern", ["../../../[seed]", "/tmp/abs-[seed]", "..\\..\\[seed]", "a\x00b-[seed]", "..", "[prompt]"]
)
def test_file_name_patterns_stay_inside_the_output_folder(tmp_path, pattern):
    from PIL import Image

    from modules.images.save import save_image

    out = tmp_path / "outputs"
    settings = {"samples_filename_pattern": pattern, "save_to_dirs": True, "directories_filename_pattern": pattern}
    info = {"seed": 7, "prompt": "../../x\x00y/../..", "width": 8, "height": 8}
    path = save_image(Image.new("RGB", (8, 8)), out, info=info, settings=settings)
    assert path.resolve().is_relative_to(out.resolve()) and path.is_file()
    assert "\x00" not in str(path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]


def test_language_files_of_any_shape_are_skipped_with_a_reason(tmp_path):
    from modules.localization.catalog import LanguageFileError, read_language_file

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200000 + "]" * 200000, encoding="utf-8")
    with pytest.raises(LanguageFileError, match="nested too deeply"):
        read_language_file(deep)
    huge = tmp_path / "huge.json"
    huge.write_text('{"Generate": "' + "x" * (17 * 1024 * 1024) + '"}', encoding="utf-8")
    with pytest.raises(LanguageFileError, match="bytes, more than"):
        read_language_file(huge)


def test_styles_csv_with_huge_fields_or_size_is_logged_not_fatal(tmp_path, caplog):
    from modules.processing.styles import StyleDatabase

    big_field = tmp_path / "styles.csv"
    big_field.write_text('name,prompt,negative_prompt\nok,"' + "x" * 300000 + '",\n', encoding="utf-8")
    database = StyleDatabase(big_field)
    database.reload()
    assert database.names() == [] and "Could not read styles file" in caplog.text
    huge = tmp_path / "huge.csv"
    huge.write_text("name,prompt,negative_prompt\n" + "s,p,n\n" * (3 * 1024 * 1024), encoding="utf-8")
    database = StyleDatabase(huge)
    database.reload()
    assert database.names() == []


def test_malformed_exif_and_novelai_comments_read_as_no_infotext():
    from PIL import Image

    from modules.images.metadata import read_infotext

    image = Image.new("RGB", (4, 4))
    image.info["exif"] = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x00" * 7
    assert read_infotext(image)[0] in (None, "")
    image = Image.new("RGB", (4, 4))
    image.info.update({"Software": "NovelAI", "Description": "d", "Comment": "[" * 100000})
    assert read_infotext(image)[0] is None
