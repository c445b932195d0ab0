"""Pure parts of the page head and of ``/file=``: where scripts go, how options are embedded, what may be served."""

from __future__ import annotations

import json
import os

from modules.ui.file_route import resolve_allowed
from modules.ui.page_head import insert_into_head, options_script


def test_insert_into_head_goes_before_the_closing_tag():
    html = "<html><head><title>x</title></head><body></body></html>"
    assert insert_into_head(html, "<script>1</script>") == (
        "<html><head><title>x</title><script>1</script>\n</head><body></body></html>"
    )
    assert insert_into_head("<p>no head</p>", "<script>1</script>") == "<p>no head</p>"


def test_options_script_cannot_close_its_tag():
    script = options_script({"x": "</script><script>alert(1)</script>", "n": 3})
    assert script.count("</script>") == 1
    body = script.removeprefix("<script>var opts = ").removesuffix(";</script>\n")
    assert json.loads(body) == {"x": "</script><script>alert(1)</script>", "n": 3}


def test_resolve_allowed(tmp_path):
    root = tmp_path / "extensions" / "ext"
    root.mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (tmp_path / "secret.txt").write_text("s")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    os.symlink(root / "a.txt", root / "inside.txt")
    roots, bases = [root], [tmp_path]
    assert resolve_allowed("extensions/ext/a.txt", roots, bases) == (root / "a.txt").resolve()
    assert resolve_allowed(str(root / "a.txt"), roots, bases) == (root / "a.txt").resolve()
    assert resolve_allowed("extensions/ext/inside.txt", roots, bases) == (root / "a.txt").resolve()
    assert resolve_allowed("extensions/ext/escape.txt", roots, bases) is None
    assert resolve_allowed("extensions/ext/../../secret.txt", roots, bases) is None
    assert resolve_allowed(str(tmp_path / "secret.txt"), roots, bases) is None
    assert resolve_allowed("extensions/ext", roots, bases) is None  # a folder
    assert resolve_allowed("extensions/ext/missing.txt", roots, bases) is None
    assert resolve_allowed("extensions/ext/a.txt\x00.png", roots, bases) is None
    assert resolve_allowed("", roots, bases) is None
