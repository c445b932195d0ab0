"""styles.csv: reading, merging, extracting back and atomic saving."""

import doctest

import pytest

from modules.processing import styles as styles_module
from modules.processing.styles import StyleDatabase

CSV = (
    "name,prompt,negative_prompt\r\n"
    "# Portraits,,\r\n"
    'quality,"masterpiece, best quality","lowres, blurry"\r\n'
    "frame,photo of {prompt} at dusk,\r\n"
    "neg only,,ugly\r\n"
)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_text(CSV, encoding="utf-8-sig")
    return StyleDatabase(path)


def test_docstring_examples():
    assert doctest.testmod(styles_module).failed == 0


def test_reads_rows_and_skips_comments(db):
    assert db.names() == ["quality", "frame", "neg only"]
    assert db.get("quality").negative_prompt == "lowres, blurry"


def test_apply(db):
    assert db.apply_styles_to_prompt("a cat", ["quality"]) == "a cat, masterpiece, best quality"
    assert (
        db.apply_styles_to_prompt("a cat", ["frame", "quality"]) == "photo of a cat at dusk, masterpiece, best quality"
    )
    assert db.apply_styles_to_prompt("a cat", ["missing"]) == "a cat"
    assert db.apply_negative_styles_to_prompt("", ["quality", "neg only"]) == "lowres, blurry, ugly"


def test_extract_is_inverse_of_apply(db):
    names = ["frame", "quality", "neg only"]
    prompt = db.apply_styles_to_prompt("a cat", names)
    negative = db.apply_negative_styles_to_prompt("bad hands", names)
    found, clean_prompt, clean_negative = db.extract_styles_from_prompt(prompt, negative)
    assert sorted(found) == sorted(names)
    assert (clean_prompt, clean_negative) == ("a cat", "bad hands")
    assert db.extract_styles_from_prompt("a dog", "") == ([], "a dog", "")


def test_save_is_atomic_and_round_trips(tmp_path, db):
    db.save_style("new, style", 'with "quotes", {prompt}', "multi\nline")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    reread = StyleDatabase(tmp_path / "styles.csv")
    assert reread.get("new, style").prompt == 'with "quotes", {prompt}'
    assert reread.get("new, style").negative_prompt == "multi\nline"
    assert reread.get("quality").prompt == "masterpiece, best quality"
    assert (tmp_path / "styles.csv").read_bytes().startswith(b"\xef\xbb\xbfname,prompt,negative_prompt")
    assert reread.delete_style("frame") and StyleDatabase(tmp_path / "styles.csv").get("frame") is None
    with pytest.raises(ValueError):
        db.save_style("#comment", "", "")


def test_old_name_text_format_and_missing_file(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text("name,text\nx,hello\n", encoding="utf-8")
    assert StyleDatabase(old).get("x").prompt == "hello"
    assert StyleDatabase(tmp_path / "absent.csv").names() == []


def test_several_files_with_wildcards(tmp_path):
    (tmp_path / "styles.csv").write_text("name,prompt,negative_prompt\na,A,\n", encoding="utf-8")
    (tmp_path / "more-1.csv").write_text("name,prompt,negative_prompt\nb,B,\n", encoding="utf-8")
    db = StyleDatabase([tmp_path / "styles.csv", str(tmp_path / "more-*.csv")])
    assert db.names() == ["a", "b"]
    db.save_style("b", "B2", "")
    assert "B2" in (tmp_path / "more-1.csv").read_text(encoding="utf-8-sig")
    assert "B2" not in (tmp_path / "styles.csv").read_text(encoding="utf-8-sig")
